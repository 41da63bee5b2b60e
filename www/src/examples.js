// The languages: how each runs (the interpreter argv, the file it is written to) and its
// starter program, which reads a line, prints in colour and writes to stderr.

/** argv prefix of each language's interpreter; the program's path is appended. */
export const INTERPRETERS = {
  python: ["python3", "-u"],
  node: ["node"],
  bash: ["bash"],
};

export const LANGUAGES = {
  python: {
    label: "Python",
    file: "main.py",
    code: `# Python 3 in a sandbox, driven from this page by modal-wasm.
# Ctrl+Enter runs it; type into the terminal to answer input().
import sys
import time

name = input("What's your name? ")
print(f"Hello, {name}! Python {sys.version.split()[0]} here.")

for i in range(1, 4):
    print(f"\\033[32mstep {i}/3\\033[0m")
    time.sleep(0.3)

print("warnings and errors go to stderr", file=sys.stderr)
`,
  },
  node: {
    label: "Node.js",
    file: "main.js",
    code: `// Node.js in a sandbox, driven from this page by modal-wasm.
// Ctrl+Enter runs it; type into the terminal to answer.
const readline = require("node:readline");

const rl = readline.createInterface({ input: process.stdin });
process.stdout.write("What's your name? ");
rl.once("line", async (name) => {
  console.log(\`Hello, \${name}! Node \${process.version} here.\`);
  for (let i = 1; i <= 3; i++) {
    console.log(\`\\x1b[36mstep \${i}/3\\x1b[0m\`);
    await new Promise((r) => setTimeout(r, 300));
  }
  console.error("warnings and errors go to stderr");
  rl.close();
});
`,
  },
  bash: {
    label: "Bash",
    file: "main.sh",
    code: `# Bash in a sandbox, driven from this page by modal-wasm.
# Ctrl+Enter runs it; type into the terminal to answer read.
printf "What's your name? "
read -r name
echo "Hello, $name! $(bash --version | head -n1)"

for i in 1 2 3; do
  printf '\\033[35mstep %d/3\\033[0m\\n' "$i"
  sleep 0.3
done

ls -la
echo "warnings and errors go to stderr" >&2
`,
  },
};

/** The language a file's name suggests, or undefined. */
export function languageOf(name) {
  if (/\.py$/i.test(name)) return "python";
  if (/\.(c|m)?js$/i.test(name)) return "node";
  if (/\.(ba)?sh$/i.test(name)) return "bash";
  return undefined;
}
