// The code editor (CodeMirror), loaded by main.js after the terminal is up: it is most of
// the page's JavaScript, and the sandbox, the Run button and the output need none of it.
// Each language's grammar is a chunk of its own, loaded when a buffer of that language is
// first shown (a Bash page never evaluates the Python and JavaScript parsers).

import { EditorView, basicSetup } from "codemirror";
import { EditorState, Compartment, Prec, StateField } from "@codemirror/state";
import { keymap } from "@codemirror/view";
import { indentWithTab } from "@codemirror/commands";
import { oneDark } from "@codemirror/theme-one-dark";

const LOADERS = {
  python: () => import("@codemirror/lang-python").then((m) => m.python()),
  node: () => import("@codemirror/lang-javascript").then((m) => m.javascript()),
  bash: () =>
    Promise.all([import("@codemirror/language"), import("@codemirror/legacy-modes/mode/shell")]).then(
      ([{ StreamLanguage }, { shell }]) => StreamLanguage.define(shell),
    ),
};

/**
 * The editor in `parent`. `onChange` after every edit; `onRun` on Mod-Enter, `onSave` on
 * Mod-s. Buffers are EditorStates made by `newState` and shown by `show`.
 */
export function createEditor({ parent, onChange, onRun, onSave }) {
  const language = new Compartment();
  const loaded = new Map(); // lang -> its extension, once its grammar has loaded
  const loading = new Map(); // lang -> the promise of it
  const keys = Prec.highest(
    keymap.of([
      { key: "Mod-Enter", run: () => (onRun(), true) },
      { key: "Mod-s", run: () => (onSave(), true), preventDefault: true },
      indentWithTab,
    ]),
  );
  const view = new EditorView({ parent });

  /** The grammar of `lang` into the view, if the view still shows a buffer of it. */
  function applyLanguage(lang) {
    const ext = loaded.get(lang);
    if (ext && view.state.field(langField, false) === lang && language.get(view.state) !== ext)
      view.dispatch({ effects: language.reconfigure(ext) });
  }

  function load(lang) {
    if (loaded.has(lang) || loading.has(lang) || !LOADERS[lang]) return;
    loading.set(
      lang,
      LOADERS[lang]().then(
        (ext) => {
          loaded.set(lang, ext);
          applyLanguage(lang);
        },
        () => loading.delete(lang), // a failed chunk load: plain text, tried again next time
      ),
    );
  }

  return {
    view,
    newState(doc, lang) {
      load(lang);
      return EditorState.create({
        doc,
        extensions: [
          basicSetup,
          oneDark,
          keys,
          langField.init(() => lang),
          language.of(loaded.get(lang) || []),
          EditorView.updateListener.of((u) => u.docChanged && onChange()),
          EditorView.theme({ "&": { backgroundColor: "#0f1115" }, ".cm-gutters": { backgroundColor: "#0f1115" } }),
        ],
      });
    },
    show(state) {
      view.setState(state);
      applyLanguage(view.state.field(langField, false));
    },
  };
}

// the language a buffer was made for (kept in its state, so it survives edits)
const langField = StateField.define({ create: () => null, update: (v) => v });
