"""Screenshots of the built docs, and a check that no line of code is cut off.

Usage: python .ci/docs_screenshots.py HTML_DIR OUT_DIR

Opens every page of the HTML build in HTML_DIR, as file:// URLs, in headless
Chromium (the front page, the quickstart, the assertions and the errors pages
must be there), at a desktop width (1280 x 900) and a narrow one (800 px), and
saves a full-page screenshot of each into OUT_DIR as PAGE-WIDTH.png. Selenium
drives Debian's /usr/bin/chromium through /usr/bin/chromedriver, so it
downloads nothing (apt-get install chromium chromium-driver; pip install
'selenium>=4.11').

A code block is clipped when its <pre> is wider inside than on the page
(scrollWidth > clientWidth): the end of a line is hidden behind a scrollbar.
Every clipped block is reported, with the page, the width and the start of its
longest line. The check fails if a page is missing, or if any block is clipped
at either width. At 800 px this asks no more than at 1280: from about 785 px up,
Furo's text column keeps its full width (46em, 90 characters of code), and only
the sidebar goes; the narrow screenshots show that layout. Below that, on
phones, a long line may scroll sideways, which is acceptable: those widths are
not checked.
"""

import argparse
import base64
import sys
from pathlib import Path

from selenium import webdriver

REQUIRED = ["index.html", "quickstart.html", "assertions.html", "errors.html"]
#: Sphinx's generated pages, which hold no code.
GENERATED = {"genindex.html", "search.html", "py-modindex.html"}
HEIGHT = 900
WIDTHS = [1280, 800]
BROWSER = "/usr/bin/chromium"
DRIVER = "/usr/bin/chromedriver"

# For every <pre>: its longest line, and whether it overflows its box.
CHECK_CODE = """
return Array.from(document.querySelectorAll("pre"), (pre) => {
    const lines = pre.textContent.split("\\n");
    const longest = lines.reduce((a, b) => (b.length > a.length ? b : a), "");
    return {clipped: pre.scrollWidth > pre.clientWidth, longest: longest};
});
"""


def start_browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={max(WIDTHS)},{HEIGHT}")
    service = webdriver.ChromeService(executable_path=DRIVER)
    return webdriver.Chrome(options=options, service=service)


def set_viewport(browser: webdriver.Chrome, width: int, height: int) -> None:
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1}
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {**metrics, "mobile": False}
    )


def screenshot(browser: webdriver.Chrome, width: int, path: Path) -> None:
    """Save the whole page, not only the part in the window."""
    height = browser.execute_script("return document.documentElement.scrollHeight")
    set_viewport(browser, width, height)
    shot = browser.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    path.write_bytes(base64.b64decode(shot["data"]))
    set_viewport(browser, width, HEIGHT)


def pages(html_dir: Path) -> list[str]:
    found = (path.name for path in sorted(html_dir.glob("*.html")))
    return [name for name in found if name not in GENERATED]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)

    failures = 0
    missing = [page for page in REQUIRED if not (args.html_dir / page).is_file()]
    for page in missing:
        print(f"MISSING {args.html_dir / page}")
        failures += 1

    browser = start_browser()
    try:
        for width in WIDTHS:
            set_viewport(browser, width, HEIGHT)
            for page in pages(args.html_dir):
                browser.get((args.html_dir / page).resolve().as_uri())
                browser.execute_async_script(
                    "document.fonts.ready.then(arguments[arguments.length - 1])"
                )
                blocks = browser.execute_script(CHECK_CODE)
                clipped = [block for block in blocks if block["clipped"]]
                print(
                    f"{page} at {width} px: {len(blocks)} code block(s), "
                    f"{len(clipped)} clipped"
                )
                for block in clipped:
                    print(f"  CLIPPED {page} at {width} px: {block['longest'][:80]!r}")
                failures += len(clipped)
                name = f"{Path(page).stem}-{width}.png"
                screenshot(browser, width, args.out_dir / name)
    finally:
        browser.quit()

    print(f"screenshots in {args.out_dir}; {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
