"""README.md from nbs/index.ipynb without Quarto (nbdev_readme needs Quarto, which cannot be installed here).

Markdown cells are copied; code cells that are not hidden are shown as python blocks with their text outputs.
Relative links to notebooks (`tutorials/quickstart.ipynb`, relative to nbs/) point into nbs/ from the README.
"""
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def render(nb_path: Path) -> str:
    nb = nbformat.read(nb_path, as_version=4)
    parts = []
    for c in nb.cells:
        src = c.source.strip()
        if not src: continue
        if c.cell_type == "markdown":
            parts.append(re.sub(r"\]\((?![a-z]+:|/|#)([^)\s]+\.ipynb)", r"](nbs/\1", src))
        elif c.cell_type == "code":
            if any(l.strip().startswith(("#| hide", "#|hide", "#| export")) for l in src.splitlines()[:3]): continue
            parts.append("```python\n" + src + "\n```")
            for o in c.get("outputs", []):
                text = o.get("text") or (o.get("data", {}) or {}).get("text/plain")
                if text: parts.append("```\n" + "".join(text).rstrip() + "\n```")
    return "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    out = ROOT / "README.md"
    text = "<!-- generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook -->\n\n" + render(ROOT / "nbs" / "index.ipynb")
    if "--check" in sys.argv:
        sys.exit(0 if out.exists() and out.read_text() == text else "README.md is out of date with nbs/index.ipynb: run make export")
    out.write_text(text)
