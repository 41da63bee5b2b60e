"""Modal's official Python client (V2 sandboxes) against a sandboxd serving TLS: the CA
comes from SSL_CERT_FILE, the server from MODAL_SERVER_URL (https://...). Run by
tests/js/gateway-e2e.mjs, which makes the CA and starts that sandboxd."""
import modal

assert modal.config.config["server_url"].startswith("https://"), modal.config.config["server_url"]
app = modal.App.lookup("tls-flow", create_if_missing=True)
sb = modal.Sandbox.create(app=app, image=modal.Image.from_registry("debian:bookworm-slim"), timeout=120)
p = sb.exec("sh", "-c", "echo over tls; echo err >&2; exit 4")
out, err = p.stdout.read(), p.stderr.read()
assert out == "over tls\n", repr(out)
assert err == "err\n", repr(err)
assert p.wait() == 4, p.returncode
sb.terminate()
assert sb.wait(raise_on_termination=False) == 137 or sb.returncode == 137, sb.returncode
print("python 1.6.4 over TLS (V2): create, exec, stdout/stderr, exit code, terminate: ok")
