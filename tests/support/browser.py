"""A real browser for the report page: headless Chromium (Debian's package ``chromium``) draws, reads and prints it.

Shared by tests/integration/test_report_page.py and the Molecule scenario's report test. Without Chromium the
caller's test fails with the package to install; it never skips.
"""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser

from tests.support import png

TIMEOUT_S = 120
PACKAGES = "chromium fonts-dejavu-core"


class BrowserMissing(AssertionError):
    pass


def chromium(home, *args):
    """Run headless Chromium with ``args``; ``home`` is its HOME (its profile goes there)."""
    binary = shutil.which("chromium")
    if binary is None:
        raise BrowserMissing("chromium is not installed: install the Debian packages %s "
                             "(scripts/system-deps.sh server does)" % PACKAGES)
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    result = subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu", *args], env=env,
                            capture_output=True, timeout=TIMEOUT_S, check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    return result


def screenshot(page, shot, home, width=1280, height=2000):
    """The page drawn into the PNG ``shot``; returns the decoded image."""
    chromium(home, "--hide-scrollbars", "--window-size=%d,%d" % (width, height), "--screenshot=%s" % shot,
             page.as_uri())
    return png.decode(shot.read_bytes())


def blank_reason(image):
    """Why ``image`` counts as blank (None when it is not): one colour nearly everywhere, or hardly any colours."""
    colours = image.colours()
    _background, count = colours.most_common(1)[0]
    total = image.width * image.height
    if total - count <= total // 100:
        return "the page is (almost) blank: %d of %d pixels are the background" % (count, total)
    if len(colours) <= 16:
        return "only %d colours on the page" % len(colours)
    return None


class _Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        self.skip += tag in ("style", "title")

    def handle_endtag(self, tag):
        self.skip -= tag in ("style", "title")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def rendered_text(page, home):
    """The text of the page as Chromium's DOM holds it, white space folded."""
    dom = chromium(home, "--dump-dom", page.as_uri()).stdout.decode("utf-8")
    parser = _Text()
    parser.feed(dom)
    return dom, " ".join(" ".join(parser.parts).split())
