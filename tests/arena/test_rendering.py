"""arena.rendering.render_answer: model output (untrusted Markdown) to safe HTML."""

from __future__ import annotations

import pytest

from arena import rendering
from arena.rendering import render_answer

REL = 'rel="nofollow noopener noreferrer"'


# -- Markdown ---------------------------------------------------------------------------
def test_it_renders_headings():
    html = render_answer("# Titre\n\n## Sous-titre\n\n###### Petit")
    assert "<h1>Titre</h1>" in html and "<h2>Sous-titre</h2>" in html and "<h6>Petit</h6>" in html


def test_it_renders_lists():
    html = render_answer("- un\n- deux\n\n3. trois\n4. quatre")
    assert "<ul>\n<li>un</li>\n<li>deux</li>\n</ul>" in html
    assert '<ol start="3">\n<li>trois</li>\n<li>quatre</li>\n</ol>' in html


def test_it_renders_code():
    html = render_answer("Écris `print(1)`.\n\n```python\nif a < b and c > d:\n    pass\n```")
    assert "<code>print(1)</code>" in html
    assert "<pre><code>if a &lt; b and c &gt; d:\n    pass\n</code></pre>" in html  # the language class is dropped


def test_it_renders_tables():
    html = render_answer("| Modèle | Wh |\n|:--|--:|\n| Héron | 1,5 |")
    assert "<table>" in html and "<thead>" in html and "<tbody>" in html
    assert "<th>Modèle</th>" in html and "<td>Héron</td>" in html and "<td>1,5</td>" in html
    assert "style=" not in html


def test_it_renders_emphasis():
    html = render_answer("*doux* **fort** ~~barré~~")
    assert "<em>doux</em>" in html and "<strong>fort</strong>" in html and "<s>barré</s>" in html


def test_it_renders_quotes_breaks_and_rules():
    html = render_answer("> cité\n\nligne  \nsuivante\n\n---")
    assert "<blockquote>\n<p>cité</p>\n</blockquote>" in html
    assert "<br>" in html and "<hr>" in html


def test_it_renders_links_with_rel_nofollow_noopener():
    html = render_answer('[ADEME](https://www.ademe.fr "Agence") et [écrire](mailto:a@example.org)')
    assert f'<a href="https://www.ademe.fr" title="Agence" {REL}>ADEME</a>' in html
    assert f'<a href="mailto:a@example.org" {REL}>écrire</a>' in html


def test_it_quotes_characters_in_link_targets():
    html = render_answer('[x](http://e.org/?q="><script>)')
    assert '<a href="http://e.org/?q=%22%3E%3Cscript%3E"' in html
    assert "<script" not in html


def test_it_renders_nothing_for_nothing():
    assert render_answer("") == ""


# -- untrusted content ------------------------------------------------------------------
@pytest.mark.parametrize(
    "source, escaped",
    [
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert(1)&gt;"),
        ('<iframe src="https://evil.example"></iframe>', '&lt;iframe src="https://evil.example"&gt;&lt;/iframe&gt;'),
        ('<p style="color:red">rouge</p>', '&lt;p style="color:red"&gt;rouge&lt;/p&gt;'),
        ("<b>gras</b>", "&lt;b&gt;gras&lt;/b&gt;"),
        ('<div onclick="x">**b**</div>', '&lt;div onclick="x"&gt;<strong>b</strong>&lt;/div&gt;'),
    ],
)
def test_it_escapes_raw_html(source, escaped):
    html = render_answer(source)
    assert html == f"<p>{escaped}</p>\n"  # shown as text, never parsed as tags


def test_it_keeps_html_inside_code_as_text():
    assert render_answer("`<script>`") == "<p><code>&lt;script&gt;</code></p>\n"


@pytest.mark.parametrize(
    "source",
    [
        "[x](javascript:alert(1))",
        "[x](JAVASCRIPT:alert(1))",
        "[x](&#106;avascript:alert(1))",
        "<javascript:alert(1)>",
        "[x][r]\n\n[r]: javascript:alert(1)",
        "[x](vbscript:msgbox(1))",
        "[x](data:text/html,<script>alert(1)</script>)",
    ],
)
def test_it_drops_script_links(source):
    html = render_answer(source)
    assert "<a" not in html
    assert "href" not in html


def test_it_drops_images():
    # No third-party requests from a page showing model output.
    assert "<img" not in render_answer("![pixel](https://tracker.example/p.png)")


@pytest.mark.parametrize(
    "renderer_output, kept, removed",
    [
        ("<script>alert(1)</script><p>ok</p>", "<p>ok</p>", "script"),
        ('<img src="x" onerror="alert(1)"><p>ok</p>', "<p>ok</p>", "onerror"),
        ('<a href="javascript:alert(1)">x</a>', "<a", "javascript"),
        ('<iframe src="https://evil.example"></iframe><p>ok</p>', "<p>ok</p>", "iframe"),
        ('<p style="position:fixed" onclick="x" class="c">ok</p>', "<p>ok</p>", "style"),
        ('<a href="https://e.org" target="_blank" onmouseover="x">x</a>', REL, "onmouseover"),
    ],
)
def test_it_sanitizes_whatever_the_renderer_returns(monkeypatch, renderer_output, kept, removed):
    """The allow-list sanitizer stands even if the renderer let raw HTML through."""

    class LeakyRenderer:
        def render(self, text):
            return renderer_output

    monkeypatch.setattr(rendering, "_md", LeakyRenderer())
    html = render_answer("anything")
    assert kept in html
    assert removed not in html
