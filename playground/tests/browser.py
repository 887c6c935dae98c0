#!/usr/bin/env python3
"""The playground in a real headless Chromium, driven over WebDriver (chromedriver).

Loads the page (the seed example is preloaded), checks the decision for dev.example.com
(routed to its upstream) and other.example.com (refused with 404), that an edit to the YAML is
followed (a header operation shows in the decision), that a YAML error is shown with its line,
and takes a screenshot of the routed state. Only the standard library:
WebDriver is JSON over HTTP.

Environment: PLAYGROUND_URL, CHROMIUM, CHROMEDRIVER, SCREENSHOT (where to write the PNG).
"""

import base64
import json
import os
import socket
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebDriver:
    def __init__(self, base):
        self.base = base
        self.session = None

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path, data=data, method=method,
            headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return json.load(answer)["value"]
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"WebDriver {method} {path}: {error.read().decode()}") from error

    def start(self, chromium, profile):
        capabilities = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1400,1000",
                         f"--user-data-dir={profile}", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update"],
            },
        }}}
        self.session = self.call("POST", "/session", capabilities)["sessionId"]

    def s(self, path):
        return f"/session/{self.session}{path}"

    def go(self, url):
        self.call("POST", self.s("/url"), {"url": url})

    def script(self, source, *args):
        return self.call("POST", self.s("/execute/sync"), {"script": source, "args": list(args)})

    def find(self, css):
        element = self.call("POST", self.s("/element"), {"using": "css selector", "value": css})
        return next(iter(element.values()))

    def clear_and_type(self, css, text):
        element = self.find(css)
        self.call("POST", self.s(f"/element/{element}/clear"), {})
        self.call("POST", self.s(f"/element/{element}/value"), {"text": text})

    def screenshot(self, path):
        png = base64.b64decode(self.call("GET", self.s("/screenshot")))
        with open(path, "wb") as f:
            f.write(png)

    def quit(self):
        if self.session:
            try:
                self.call("DELETE", self.s(""))
            except Exception:
                pass


def wait_for(driver, condition, what, timeout=30):
    """Polls `condition` (JavaScript returning a value) until it is truthy."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = driver.script(condition)
        if value:
            return value
        time.sleep(0.1)
    state = driver.script("return document.getElementById('decision-summary').textContent")
    raise AssertionError(f"timed out waiting for {what} (decision: {state!r}, last: {value!r})")


def decision(driver, host, expected_kind):
    driver.clear_and_type("#host", host)
    return wait_for(
        driver,
        "const s = document.getElementById('decision-summary');"
        f"return s.dataset.kind === {json.dumps(expected_kind)} "
        f"&& document.getElementById('host').value === {json.dumps(host)} ? s.textContent : null;",
        f"{host} to be {expected_kind}")


def main():
    url = os.environ["PLAYGROUND_URL"]
    screenshot = os.environ["SCREENSHOT"]
    port = free_port()
    driver_log = tempfile.NamedTemporaryFile(prefix="chromedriver-", suffix=".log", delete=False)
    chromedriver = subprocess.Popen(
        [os.environ["CHROMEDRIVER"], f"--port={port}", "--allowed-ips=127.0.0.1"],
        stdout=driver_log, stderr=subprocess.STDOUT)
    driver = WebDriver(f"http://127.0.0.1:{port}")
    passed, failures = 0, 0
    profile = tempfile.mkdtemp(prefix="playground-profile-")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                driver.call("GET", "/status")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        driver.start(os.environ["CHROMIUM"], profile)
        driver.go(url)
        wait_for(driver, "return document.body.dataset.ready === 'true';", "the engine to load")
        version = driver.script("return document.getElementById('version').textContent")
        assert version and version != "…", f"no version shown: {version!r}"

        routed = decision(driver, "dev.example.com", "forward")
        assert "dev-upstream.demo.local" in routed, routed
        print(f"ok: dev.example.com → {routed}")
        passed += 1
        route = driver.script(
            "return document.getElementById('decision-text').textContent")
        assert "route" in route and "dev" in route, route
        driver.screenshot(screenshot)
        print(f"ok: screenshot {screenshot}")
        passed += 1

        refused = decision(driver, "other.example.com", "refused")
        assert "404" in refused, refused
        print(f"ok: other.example.com → {refused}")
        passed += 1

        # An edit to the YAML is followed: a header operation shows in the decision.
        driver.script(
            "const y = document.getElementById('yaml');"
            "y.value = y.value.replace('  - name: dev\\n',"
            " '  - name: dev\\n    headers: {request: {set: {x-from: playground}}}\\n');"
            "y.dispatchEvent(new Event('input'));")
        decision(driver, "dev.example.com", "forward")
        wait_for(
            driver,
            "const d = document.getElementById('decision-details').textContent;"
            "return d.includes('set x-from: playground') ? d : null;",
            "the header operation in the decision")
        print("ok: an edited route's header operation is shown")
        passed += 1

        # A YAML error is shown with its line, and the last decision gives way to it.
        driver.script(
            "const y = document.getElementById('yaml');"
            "y.value = 'kind: Gateway\\nspec: [unclosed\\n';"
            "y.dispatchEvent(new Event('input'));")
        error = wait_for(
            driver,
            "const d = document.querySelector('#diagnostics li.error');"
            "return d ? d.textContent : null;",
            "a diagnostic for broken YAML")
        assert "line" in error, error
        print(f"ok: broken YAML → {error}")
        passed += 1
    except Exception as error:
        failures = 1
        print(f"FAILED: {error}", file=sys.stderr)
        driver_log.flush()
        with open(driver_log.name, encoding="utf-8", errors="replace") as log:
            tail = log.read()[-4000:]
        print(f"chromedriver log (tail):\n{tail}", file=sys.stderr)
    finally:
        driver.quit()
        chromedriver.terminate()
        chromedriver.wait(timeout=10)
        # Only now: Chromium writes into its profile until it has quit, so removing the
        # directory earlier races with it ("Directory not empty").
        shutil.rmtree(profile, ignore_errors=True)
        os.unlink(driver_log.name)
    print(f"browser: {passed} passed, {failures} failed")
    return failures


if __name__ == "__main__":
    sys.exit(main())
