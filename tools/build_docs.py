"""The documentation site from the notebooks: `python tools/build_docs.py` (what `make docs` runs) -> `_docs/`.

With Quarto on PATH this is nbdev's own `nbdev_docs`. Quarto cannot be installed on every machine (not on this
one), so without it the site is built offline from Python packages only, in two steps:

1. nbdev's notebook processors write `_proc/`: front matter, hidden and exported cells removed, a `show_doc`
   cell after every exported definition, backtick names linked to their pages. As in `nbdev_docs`, only the
   cells `show_doc` needs are executed (exported cells, import-only cells, `show_doc` calls): signatures and
   docstrings are rendered without running the notebooks' tests, which stay on the page as worked examples.
2. Each processed notebook is rendered (markdown and ANSI outputs through nbconvert's filters, code through
   Pygments) into a page of our own layout: a sidebar of
   every page grouped by layer, relative links (nbdev's `doc_host` links and `.ipynb` links rewritten to the
   `.html` pages), and no script, style or font from the network (the site is viewed offline).

Pages: nbs/index.ipynb -> index.html (with an overview of the modules by layer), every module notebook
nbs/NN_pkg.mod.ipynb -> pkg.mod.html, nbs/tutorials/X.ipynb -> tutorials.X.html, and the papermill templates
nbs/pipelines/X.ipynb (when the folder exists) -> pipelines.X.html as worked examples.
"""
from __future__ import annotations

import argparse, ast, atexit, functools, hashlib, html, json, os, re, shutil, subprocess, sys, time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# nbformat validates with jsonschema, which imports rfc3987_syntax when it is installed (jupyter-events asks for it) to check
# the "iri" format, and that module builds 39 lark parsers as it is imported: ~1.1 s of CPU in every process of the build
# (this one and each worker). nbformat never checks a format (no FormatChecker; its schemas use no "format" keyword), so the
# build lets that optional import fail, as if the package were absent: the same notebooks, the same pages.
sys.modules.setdefault("rfc3987_syntax", None)
# Layers in the order of ARCHITECTURE.md's table: top-level package -> sidebar section.
LAYERS = {"core": "00 core", "data": "10 data", "features": "20 features", "alpha": "30 alpha", "models": "40 models",
          "risk": "50 risk", "portfolio": "55 portfolio", "execution": "60 execution", "adapters": "65 adapters", "trading": "70 trading",
          "backtest": "80 backtest", "rl": "85 rl", "research": "87 research", "infra": "90 infra", "apps": "95 apps"}
FOLDERS = {"tutorials": "Guides", "examples": "Worked examples", "pipelines": "Worked examples"}  # nbs/ subfolders -> sidebar section
TUTORIAL_ORDER = ["quickstart", "research_to_live"]
CACHE_VERSION = "2"  # bump when the processing below changes what lands in _proc/


@dataclass
class Page:
    src: Path            # the notebook
    out: str             # the page's file name in the site (flat: every link is relative to the site root)
    section: str         # sidebar section
    key: str = ""        # sort key inside the section
    title: str = ""
    description: str = ""
    ids: set = field(default_factory=set)


# ---------------------------------------------------------------------------------------------------- pages
def out_name(rel: Path) -> str:
    "nbs/11_data.loader.ipynb -> data.loader.html; nbs/tutorials/quickstart.ipynb -> tutorials.quickstart.html"
    stem = re.sub(r"^\d+[a-z]?\d*_", "", rel.stem)
    return ".".join([*rel.parent.parts, stem]) + ".html"


def find_pages(nbs: Path) -> list[Page]:
    "Every notebook that belongs in the site: nbs/*.ipynb, and those of nbs/ subfolders not starting with `_` or `.`."
    pages = []
    for p in sorted(nbs.rglob("*.ipynb")):
        rel = p.relative_to(nbs)
        if any(part.startswith(("_", ".")) for part in rel.parts) or ".ipynb_checkpoints" in rel.parts: continue
        name = out_name(rel)
        if rel.parent == Path("."):
            top = name.split(".")[0]
            section = "Home" if name == "index.html" else LAYERS.get(top, "Other modules")
        else:
            folder = rel.parts[0]
            section = FOLDERS.get(folder, folder.replace("_", " ").capitalize())
        key = rel.stem
        if rel.parent.name == "tutorials" and rel.stem in TUTORIAL_ORDER: key = f"{TUTORIAL_ORDER.index(rel.stem):02d}"
        pages.append(Page(p, name, section, key))
    dup = {p.out for p in pages if sum(q.out == p.out for q in pages) > 1}
    if dup: raise SystemExit(f"two notebooks would make the same page: {sorted(dup)}")
    return pages


def section_order(section: str) -> tuple:
    order = ["Home", *FOLDERS.values(), *LAYERS.values()]
    return (order.index(section) if section in order else len(order), section)


# ---------------------------------------------------------------------------------------------------- step 1: _proc
def _pure_imports(trees) -> bool: return all(isinstance(t, (ast.Import, ast.ImportFrom)) for t in trees)


def _doc_cell(cell) -> bool:
    "The cells `show_doc` needs: exported ones, import-only ones and `show_doc` calls (never `#| eval: false`)."
    from nbdev.processors import cell_lang, _show_docs
    if cell.cell_type != "code" or not cell.source or cell_lang(cell) != "python": return False
    if "nbdev_export" + "()" in cell.source: return False
    if cell.directives_.get("eval:", [""])[0].lower() == "false": return False
    trees = cell.parsed_()
    if not trees: return False
    if cell.directives_.keys() & {"export", "exports", "exporti", "exec_doc"}: return True
    return _pure_imports(trees) or bool(_show_docs(trees))


def _parsed(cell):
    """execnb's `NbCell.parsed_` (a code cell's top-level statements), with a cache that hits. execnb keeps the parse in an
    attribute but looks for it among the cell's keys, so every call parsed the source again: three times a cell on average
    here (the processors that look for definitions, `show_doc` calls, imports), ~1.4 s of CPU a build. The cache is
    keyed by the source itself, so a cell whose source a processor changes (however it changes it) is parsed anew.
    The callers only read the statements."""
    if cell.cell_type != "code" or cell.source.strip()[:1] in ["%", "!"]: return
    src, hit = cell.source, cell.__dict__.get("_parsed_src_")
    if hit is not None and hit[0] == src: return hit[1]
    try: body = ast.parse(src).body
    except SyntaxError: return  # e.g. `x = !ls`: not Python for the ast module
    cell.__dict__["_parsed_src_"] = (src, body)
    return body


def process_notebook(src: str, dst: str) -> str:
    """nbdev's processors on one notebook, written to `dst` (runs in a worker process).

    Same processors as `nbdev_docs`, except that nbdev's `exec_show_docs` also runs a test cell that merely
    contains an import (it then fails on the names the skipped cells define); here only import-only cells run.
    """
    os.environ["IN_TEST"] = "1"; os.environ.setdefault("MPLBACKEND", "Agg")
    if str(ROOT) not in sys.path: sys.path.insert(0, str(ROOT))
    import nbdev.processors as nbp
    from execnb.nbio import NbCell, read_nb, write_nb
    NbCell.parsed_ = _parsed
    from fastcore.basics import str2bool

    from execnb.shell import CaptureShell
    from IPython.core.history import HistoryManager

    class Shell(CaptureShell):
        def init_history(self):
            # No SQLite history: execnb runs every cell with store_history=False and turns the history off anyway, but only
            # once IPython has opened ~/.ipython/.../history.sqlite, committed a new session to it (an fsync) and started a
            # saving thread, for every notebook (~12 ms each, and 118 sessions appended to the user's history per build).
            self.history_manager = HistoryManager(shell=self, parent=self, enabled=False)
            self.configurables.append(self.history_manager)

    class exec_doc_cells(nbp.exec_show_docs):
        def begin(self):  # nbdev's, with the shell above
            if nbp.nb_lang(self.nb) != "python": return
            self.k = Shell()
            self.k.run_cell("from nbdev.showdoc import show_doc")

        def __call__(self, cell):
            if not self.nb.has_docs_ or not hasattr(self, "k"): return
            if str2bool(getattr(self.nb, "frontmatter_", {}).get("skip_showdoc", False)): return
            if cell.cell_type == "code" and "export" in cell.directives_ and cell.directives_.get("eval:", [""])[0].lower() == "false":
                cell.directives_.pop("export")  # never run, so no show_doc: rm_export keeps it and the page shows its source
            if getattr(cell, "has_sd", False) and re.search(r"show_doc\((\w+)", cell.source)[1] not in self.k.user_ns:
                cell.source = ""; return  # nbdev's automatic show_doc of a definition in an `eval: false` cell
            if _doc_cell(cell): self.k.cell(cell)
            if self.k.exc:
                raise RuntimeError(f"{src}: cell {cell.idx_} failed while rendering the API docs:\n{cell.source}") from self.k.exc

        def end(self):
            super().end()
            if hasattr(self, "k"):  # IPython registers every shell's exit cleanup, a namespace reset with a full garbage collection:
                # in a worker that processed 60 notebooks, 60 full collections of a large heap at exit (~30 s of CPU). Not needed:
                # the worker exits. (The namespace itself stays: functions a notebook registered, e.g. features, still use it.)
                atexit.unregister(self.k.atexit_operations)

    class Procs(nbp.FilterDefaults):
        def base_procs(self): return [exec_doc_cells if p is nbp.exec_show_docs else p for p in super().base_procs()]

    t = time.time()
    nb = read_nb(src)
    try: Procs()(nb)
    except Exception as e: raise RuntimeError(f"{src}: nbdev's processors failed: {e!r}") from e
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    write_nb(nb, dst)
    return f"{Path(src).name} {time.time() - t:.1f}s"


def process_all(pages: list[Page], proc: Path, workers: int, force: bool, log=print) -> int:
    "Process the notebooks that changed since the last build into `proc` (cache: content hashes). Returns how many."
    manifest = proc / ".docs-cache.json"
    old = {} if force or not manifest.exists() else json.loads(manifest.read_text())
    import nbdev
    tool = hashlib.sha256(f"{CACHE_VERSION} {nbdev.__version__}".encode() + (ROOT / "settings.ini").read_bytes()).hexdigest()
    new, todo = {}, []
    for p in pages:
        dst = proc / p.src.relative_to(ROOT / "nbs")
        h = hashlib.sha256(p.src.read_bytes() + tool.encode()).hexdigest()
        new[str(dst)] = h
        if old.get(str(dst)) != h or not dst.exists(): todo.append((str(p.src), str(dst)))
    if todo:
        # by module name, not __main__: the IPython shell that renders show_doc replaces a worker's __main__
        sys.path.insert(0, str(Path(__file__).parent))
        import build_docs
        with ProcessPoolExecutor(max_workers=max(1, min(workers, len(todo))), mp_context=get_context("spawn")) as ex:
            for msg in ex.map(build_docs.process_notebook, *zip(*todo)): log(f"  processed {msg}")
    proc.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps(new, indent=1))
    return len(todo)


# ---------------------------------------------------------------------------------------------------- step 2: render
_DIRECTIVE = re.compile(r"^\s*#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$")
_QUARTO_ATTRS = re.compile(r"\)\{[^}\n]*\}")  # [source](url){target="_blank" style=...} -> [source](url)
_MD_LINK = re.compile(r"(\]\()([^)\s]+)(\))")
_HREF = re.compile(r'(href=")([^"]*)(")')


def front_matter(nb) -> dict:
    import yaml
    for c in nb.cells:
        if c.cell_type == "raw" and c.source.lstrip().startswith("---"):
            return yaml.safe_load(c.source.strip().strip("-")) or {}
    return {}


class Linker:
    "Makes every link in a page relative to the flat site: nbdev's doc_host links, and `.ipynb` links."
    def __init__(self, pages: list[Page], cfg_host: str):
        self.by_src = {p.src.resolve(): p.out for p in pages}
        self.host = cfg_host.rstrip("/") + "/"

    def __call__(self, url: str, page: Page) -> str:
        if url.startswith(self.host): url = url[len(self.host):]
        if re.match(r"^[a-z]+:", url): return url
        if url.startswith("#"): return url.lower()  # ids are lower-case (see `postprocess`)
        path, _, frag = url.partition("#")
        if path.endswith(".ipynb"):
            target = (page.src.parent / path).resolve()
            path = self.by_src.get(target, path[:-6] + ".html")
        return path + ("#" + frag.lower() if frag else "")

    def markdown(self, text: str, page: Page) -> str:
        text = _QUARTO_ATTRS.sub(")", text)
        return _MD_LINK.sub(lambda m: m[1] + self(m[2], page) + m[3], text)


def prepare(nb, page: Page, link: Linker):
    "Interpret the Quarto cell options nbdev leaves (echo, output, include), drop empty cells, fix links."
    cells = []
    for c in nb.cells:
        c.metadata.pop("execution", None)
        if c.cell_type == "raw": continue  # front matter: shown as the page's title instead
        src = c.get("source", "")
        if c.cell_type == "markdown":
            if not src.strip() or src.startswith("<!-- WARNING: THIS FILE WAS AUTOGENERATED"): continue
            c.source = link.markdown(src, page); cells.append(c); continue
        lines, opts = src.splitlines(), {}
        while lines and _DIRECTIVE.match(lines[0]):
            k, v = _DIRECTIVE.match(lines[0]).groups(); opts[k] = v.strip().strip('"').lower(); lines.pop(0)
        c.source = "\n".join(lines).strip("\n")
        if opts.get("include") == "false" or "hide" in opts: continue
        if opts.get("output") == "false": c.outputs = []
        if not c.source and not c.get("outputs"): continue
        tags = set(c.metadata.get("tags", []))
        if opts.get("echo") == "false" or not c.source: tags.add("docs_remove_input")
        c.metadata["tags"] = sorted(tags)
        for o in c.get("outputs", []):
            data = o.get("data", {})
            if "text/markdown" in data: data["text/markdown"] = link.markdown(data["text/markdown"], page)
        cells.append(c)
    nb.cells = cells
    return nb


@functools.lru_cache(maxsize=None)
def _pygments():
    "One Python lexer and HTML formatter for every cell (a formatter builds its style table when created: ~1 ms, 1,700 cells)."
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer
    return PythonLexer(), HtmlFormatter(cssclass="highlight")


def _highlight(code: str) -> str:
    from pygments import highlight
    return highlight(code, *_pygments())


@functools.lru_cache(maxsize=None)
def _markdown_renderer():
    """nbconvert's IPythonRenderer, whose fenced code blocks (show_doc's signatures, examples in the prose: ~980 a build)
    reuse one lexer per language and one formatter instead of building both per block (the formatter's style table
    alone, ~1 ms each); the same HTML. Anything else (no language, mermaid, an unknown language, lexer options) is
    nbconvert's own code path."""
    from nbconvert.filters.markdown_mistune import IPythonRenderer
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    @functools.lru_cache(maxsize=None)
    def lexer(lang):
        try: return get_lexer_by_name(lang)
        except ClassNotFound: return None

    formatter = HtmlFormatter()

    class Renderer(IPythonRenderer):
        def block_code(self, code, info=None):
            words = info.strip().split(maxsplit=1) if info and not info.startswith("mermaid") else []
            lex = lexer(words[0]) if words and not self.lexer_options else None
            if lex is None: return super().block_code(code, info=info)
            return highlight(code, lex, formatter)
    return Renderer


def _markdown(source: str) -> str:
    "nbconvert's `markdown2html_mistune`, with the renderer above."
    from nbconvert.filters.markdown_mistune import MarkdownWithMath
    return MarkdownWithMath(renderer=_markdown_renderer()(escape=False)).render(source)


def render_output(o) -> str:
    "One cell output: nbconvert's priority (html, images, markdown, plain text), ANSI colours kept."
    from nbconvert.filters.ansi import ansi2html
    if o.output_type == "stream": return f'<pre class="out {o.name}">{ansi2html(o.text)}</pre>'
    if o.output_type == "error": return f'<pre class="out stderr">{ansi2html(chr(10).join(o.traceback))}</pre>'
    data = o.get("data", {})
    if "text/html" in data: return f'<div class="out html">{data["text/html"]}</div>'
    for mime in ("image/png", "image/jpeg"):
        if mime in data: return f'<div class="out image"><img alt="a figure" src="data:{mime};base64,{data[mime].strip()}"></div>'
    if "image/svg+xml" in data: return f'<div class="out image">{data["image/svg+xml"]}</div>'
    if "text/markdown" in data: return f'<div class="out md">{_markdown(data["text/markdown"])}</div>'
    if "text/plain" in data: return f'<pre class="out">{ansi2html(data["text/plain"])}</pre>'
    return ""


def render_cells(nb) -> str:
    """The cells as HTML: markdown through nbconvert's mistune renderer (heading anchors included), code through
    Pygments. (nbconvert's whole-notebook templates spend most of their time validating and sanitising.)"""
    out = []
    for c in nb.cells:
        if c.cell_type == "markdown": out.append(f'<div class="cell md">{_markdown(c.source)}</div>'); continue
        inp = "" if "docs_remove_input" in c.metadata.get("tags", []) else _highlight(c.source)
        outs = "".join(render_output(o) for o in c.get("outputs", []))
        kind = "api" if not inp and outs.startswith('<div class="out md">') else "code"
        out.append(f'<div class="cell {kind}">{inp}{outs}</div>')
    return "\n".join(out)


_ID = re.compile(r'(<h[1-6][^>]*\bid=")([^"]+)(")')


def postprocess(body: str, page: Page, link: Linker) -> str:
    "Lower-case heading ids (nbdev's links are lower-case, as Quarto's ids), relative links, no CDN-loaded output."
    body = _ID.sub(lambda m: m[1] + m[2].lower() + m[3], body)
    body = _HREF.sub(lambda m: m[1] + html.escape(link(html.unescape(m[2]), page)) + m[3], body)
    body = re.sub(r'<a href="(https?://[^"]+)"', r'<a href="\1" target="_blank" rel="noopener"', body)
    page.ids = set(re.findall(r'\bid="([^"]+)"', body))
    return body


_CODE_LINK = re.compile(r'<a href="([^"#]*)#([^"]+)"(?: target="_blank" rel="noopener")?><code>')


def fix_code_links(body: str, page: Page, by_out: dict) -> str:
    """nbdev links every name of `_modidx.py` in backticks to `page#name`, but only names with a `show_doc` entry
    have that anchor (a method defined in its class's body, a private helper): point those at the class, or the page."""
    def fix(m):
        target = by_out.get(m[1] or page.out)
        if target is None or m[2] in target.ids: return m[0]
        frag = m[2].rsplit(".", 1)[0] if "." in m[2] and m[2].rsplit(".", 1)[0] in target.ids else ""
        return m[0].replace(f"#{m[2]}", f"#{frag}" if frag else "", 1)
    return _CODE_LINK.sub(fix, body)


def nav_html(pages: list[Page], current: Page) -> str:
    out = []
    for section in sorted({p.section for p in pages}, key=section_order):
        items = sorted((p for p in pages if p.section == section), key=lambda p: p.key)
        if section == "Home":
            out.append(f'<a class="nav-home{" active" if current in items else ""}" href="index.html">Home</a>'); continue
        out.append(f'<div class="nav-section"><div class="nav-title">{html.escape(section)}</div><ul>')
        for p in items:
            cls = ' class="active"' if p is current else ""
            mod = p.out[:-5] if p.section in LAYERS.values() else ""
            sub = f'<span class="nav-mod">{html.escape(mod)}</span>' if mod else ""
            out.append(f'<li><a{cls} href="{p.out}" title="{html.escape(p.description)}">{html.escape(p.title)}{sub}</a></li>')
        out.append("</ul></div>")
    return "\n".join(out)


def overview_html(pages: list[Page]) -> str:
    "The home page's map: guides, then every layer's modules with their one-line summaries."
    cards = []
    for section in sorted({p.section for p in pages} - {"Home"}, key=section_order):
        items = sorted((p for p in pages if p.section == section), key=lambda p: p.key)
        lis = "".join(f'<li><a href="{p.out}">{html.escape(p.title)}</a><span>{_inline_code(p.description)}</span></li>' for p in items)
        cards.append(f'<div class="card"><h3>{html.escape(section)}</h3><ul>{lis}</ul></div>')
    return ('<h2 id="the-documentation">The documentation<a class="anchor-link" href="#the-documentation">&#182;</a></h2>'
            f'<div class="cards">{"".join(cards)}</div>')


def _inline_code(text: str) -> str: return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def toc_html(body: str) -> str:
    heads = re.findall(r'<h2 id="([^"]+)">(.*?)<a class="anchor-link"', body)
    if len(heads) < 2: return ""
    lis = "".join(f'<li><a href="#{i}">{t}</a></li>' for i, t in heads)
    return f'<aside class="toc"><div class="nav-title">On this page</div><ul>{lis}</ul></aside>'


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} – {site}</title><meta name="description" content="{description}">
<link rel="stylesheet" href="assets/site.css"><link rel="stylesheet" href="assets/pygments.css"><link rel="icon" href="assets/favicon.svg">
</head><body>
<header class="top"><a class="brand" href="index.html"><span class="logo">α</span>{site}</a><span class="tagline">{tagline}</span><span class="version">v{version}</span></header>
<div class="layout"><nav class="sidebar">{nav}</nav>
<main><article>{heading}{body}</article>
<footer>Built from <code>{src}</code> by <code>tools/build_docs.py</code> (nbdev processors + nbconvert). Edit the notebook, not this page.</footer></main>
{toc}</div>
<script>/* keep the current page visible in a long sidebar */
const a = document.querySelector("nav.sidebar a.active"), n = a && a.closest("nav");
if (n && a.offsetTop > n.clientHeight * 0.6) n.scrollTop = a.offsetTop - n.clientHeight / 3;</script>
</body></html>
"""

FAVICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#1f4e79"/>'
           '<text x="16" y="23" font-size="20" text-anchor="middle" fill="#fff" font-family="serif">α</text></svg>')


def write_assets(out: Path):
    from pygments.formatters import HtmlFormatter
    a = out / "assets"; a.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(__file__).with_name("docs_site.css"), a / "site.css")
    (a / "pygments.css").write_text(HtmlFormatter(style="friendly").get_style_defs(".highlight"))
    (a / "favicon.svg").write_text(FAVICON)


def render_site(pages: list[Page], proc: Path, out: Path):
    import nbformat
    from nbdev.config import get_config
    cfg = get_config(path=ROOT)
    link = Linker(pages, cfg.doc_host.rstrip("/") + cfg.doc_baseurl)
    nbs, bodies = {}, {}
    for p in pages:  # titles first: every page's sidebar lists every other page
        nb = nbformat.read(proc / p.src.relative_to(ROOT / "nbs"), as_version=4)
        fm = front_matter(nb)
        p.title = str(fm.get("title") or p.src.stem)
        p.description = " ".join(str(fm.get("description", "")).split())
        nbs[p.out] = nb
    for p in pages:
        bodies[p.out] = postprocess(render_cells(prepare(nbs[p.out], p, link)), p, link)
    by_out = {p.out: p for p in pages}
    for p in pages: bodies[p.out] = fix_code_links(bodies[p.out], p, by_out)
    if out.exists(): shutil.rmtree(out)
    out.mkdir(parents=True)
    write_assets(out)
    if (ROOT / "nbs" / "images").is_dir(): shutil.copytree(ROOT / "nbs" / "images", out / "images")  # figures the prose shows
    for p in pages:
        body = bodies[p.out]
        if p.out == "index.html": body += overview_html(pages); p.ids |= set(re.findall(r'\bid="([^"]+)"', body))
        desc = f'<p class="description">{_inline_code(p.description)}</p>' if p.description else ""
        heading = f'<h1 class="title">{html.escape(p.title)}</h1>{desc}'
        (out / p.out).write_text(PAGE.format(
            title=html.escape(p.title), site=html.escape(cfg.title), description=html.escape(p.description),
            tagline=html.escape(cfg.description), version=cfg.version, nav=nav_html(pages, p), heading=heading,
            body=body, toc=toc_html(body), src=html.escape(str(p.src.relative_to(ROOT)))))


def check_external(out: Path) -> list[str]:
    "Anything a browser would fetch from the network (scripts, styles, images, fonts) is an error: the site is offline."
    bad = []
    for f in sorted(out.rglob("*.html")):
        for m in re.finditer(r'<(script|link|img|iframe|source)\b[^>]*\b(src|href)="((?:https?:)?//[^"]+)"', f.read_text()):
            bad.append(f"{f.name}: <{m[1]}> loads {m[3]}")
    return bad


# ---------------------------------------------------------------------------------------------------- main
def build(out: Path = ROOT / "_docs", proc: Path = ROOT / "_proc", workers: int = 2, force: bool = False, log=print) -> list[Page]:
    t0 = time.time()
    pages = find_pages(ROOT / "nbs")
    n = process_all(pages, proc, workers, force, log)
    t1 = time.time()
    render_site(pages, proc, out)
    bad = check_external(out)
    if bad: raise SystemExit("pages load from the network:\n" + "\n".join(bad))
    log(f"docs: {len(pages)} pages in {out} ({n} notebooks processed in {t1 - t0:.1f}s, rendered in {time.time() - t1:.1f}s)")
    return pages


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "_docs", help="site folder (default _docs/)")
    ap.add_argument("--proc", type=Path, default=ROOT / "_proc", help="processed notebooks (default _proc/)")
    ap.add_argument("--workers", type=int, default=2, help="notebooks processed in parallel (default 2)")
    ap.add_argument("--force", action="store_true", help="process every notebook again (ignore the _proc cache)")
    ap.add_argument("--offline", action="store_true", help="the offline path even when Quarto is installed")
    a = ap.parse_args(argv)
    if shutil.which("quarto") and not a.offline:
        print("docs: Quarto found, running nbdev_docs")
        return subprocess.call([str(Path(sys.executable).with_name("nbdev_docs"))], cwd=ROOT)
    build(a.out.resolve(), a.proc.resolve(), a.workers, a.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
