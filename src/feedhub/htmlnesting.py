"""Cut HTML before it nests deep enough to make the sanitizer slow.

html5ever (the parser inside nh3) scans its stack of open elements for many start and
end tags, so its time grows with depth x tags. Measured with nh3: 8,000 nested <div>
0.4 s, 100,000 nested <div> 221 s; 8,000 <span><div></span> 1.6 s (the </span> is
ignored because a <div> is open above it, so the stack only grows).

`bounded_nesting` estimates the depth html5ever will reach, tag by tag, and cuts the
HTML at the first start tag that would exceed the bound. The estimate is built to err
high, never low. Comments, bogus comments, quoted attribute values and raw-text
elements (<script>, <style>, <noscript>...; not inside <svg> or <math>, where they hold
markup) are skipped as the HTML tokenizer skips them, so end tags hidden there do not
count. An end tag closes elements only when the HTML tree builder would (not across a
"special" element or a scope boundary); start tags close only what HTML closes
implicitly (<p>, <li>, <dt>/<dd>, table cells and rows, <option>). What is not modeled
(formatting-element reconstruction, foster parenting) is left to the worker process's
time bound.
"""

from __future__ import annotations

import re

__all__ = ["bounded_nesting"]


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


# HTML Standard 13.2.4.2 "special" elements (HTML, MathML and SVG ones; lower-cased).
_SPECIAL = _names(
    "address applet area article aside base basefont bgsound blockquote body br button"
    " caption center col colgroup dd details dir div dl dt embed fieldset figcaption"
    " figure footer form frame frameset h1 h2 h3 h4 h5 h6 head header hgroup hr html"
    " iframe img input keygen li link listing main marquee menu meta nav noembed"
    " noframes noscript object ol p param plaintext pre script search section select"
    " source style summary table tbody td template textarea tfoot th thead title tr"
    " track ul wbr xmp mi mo mn ms mtext annotation-xml foreignobject desc"
)
_DEFAULT_SCOPE = _names(
    "applet caption html table td th marquee object template"
    " mi mo mn ms mtext annotation-xml foreignobject desc title"
)
# One boundary set for every end tag: the union of the scopes HTML uses (list item,
# button, table), so an end tag never closes more here than in a browser.
_END_TAG_SCOPE = _DEFAULT_SCOPE | {"ol", "ul", "button"}
_VOID = _names(
    "area base br col embed hr img input link meta param source track wbr keygen"
    " basefont bgsound frame"
)
_RAW_TEXT = _names("script style xmp iframe noembed noframes noscript textarea title")
# start tag -> (the elements it closes, the elements that stop the search)
_IMPLIED_END: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "li": (frozenset({"li"}), _SPECIAL - {"address", "div", "p", "li"}),
    "dt": (frozenset({"dt", "dd"}), _SPECIAL - {"address", "div", "p", "dt", "dd"}),
    "dd": (frozenset({"dt", "dd"}), _SPECIAL - {"address", "div", "p", "dt", "dd"}),
    "p": (frozenset({"p"}), _DEFAULT_SCOPE | {"button"}),
    "td": (frozenset({"td", "th"}), frozenset({"html", "table", "template", "tr"})),
    "th": (frozenset({"td", "th"}), frozenset({"html", "table", "template", "tr"})),
    "tr": (frozenset({"tr"}), frozenset({"html", "table", "template"})),
}
# One token of the HTML tokenizer starting at "<", text skipped by search(). A start or
# end tag with its attributes (quoted values may hold ">"), a comment opener, or a bogus
# comment ("<!x", "<?x", "</3"). A tag whose "rest" is missing runs to the end of the
# input, where the tokenizer drops it.
_STOP_KEYS = {opener: f"#stop-{opener}" for opener in _IMPLIED_END}
_TOKEN = re.compile(
    r"""<(?:(?P<comment>!--)|(?P<bogus>[!?]|/(?![A-Za-z]))"""
    r"""|(?P<end>/)?(?P<name>[A-Za-z][^\s/>]*+)"""
    r"""(?P<rest>(?:[\s/]*+(?:[^\s/>][^\s/>=]*+(?:\s*+=\s*+(?:"[^"]*+"|'[^']*+'|[^\s>]*+))?+)?+)*+>)?)"""
)
_COMMENT_END = re.compile(r"--!?>")


class _OpenElements:
    """The stack of open elements, with the topmost position of each name and of each
    boundary set, so every question the tree rules ask is answered in O(1)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.positions: dict[str, list[int]] = {}
        self.keys_of: dict[str, tuple[str, ...]] = {}

    def keys(self, name: str) -> tuple[str, ...]:
        keys = self.keys_of.get(name)
        if keys is None:
            keys = (name,)
            keys += ("#special",) if name in _SPECIAL else ()
            keys += ("#scope",) if name in _END_TAG_SCOPE else ()
            for opener, (_, stops) in _IMPLIED_END.items():
                keys += (_STOP_KEYS[opener],) if name in stops else ()
            self.keys_of[name] = keys
        return keys

    def top(self, key: str) -> int:
        found = self.positions.get(key)
        return found[-1] if found else -1

    def push(self, name: str) -> None:
        for key in self.keys(name):
            self.positions.setdefault(key, []).append(len(self.names))
        self.names.append(name)

    def pop_to(self, index: int) -> None:
        """Close the element at `index` and everything opened inside it."""
        while len(self.names) > index:
            for key in self.keys(self.names.pop()):
                self.positions[key].pop()


def bounded_nesting(html: str, max_depth: int) -> tuple[str, bool]:
    """(`html` cut before the first start tag that would nest deeper than `max_depth`,
    whether it was cut)."""
    # Every element pushed below is a start tag: a "<" not followed by "/". With no
    # more of those than the bound, nothing can be cut, and the scan (twice nh3's
    # own time on a 170 KB post of 1,200 tags, half of them end tags) is skipped.
    if html.count("<") - html.count("</") <= max_depth:
        return html, False
    return _cut(html, max_depth)


def _cut(html: str, max_depth: int) -> tuple[str, bool]:
    stack = _OpenElements()
    pos = 0
    while (token := _TOKEN.search(html, pos)) is not None:
        if token.group("comment"):
            end = _COMMENT_END.search(html, token.start() + 2)
            if end is None:
                break
            pos = end.end()
            continue
        if token.group("bogus"):
            pos = html.find(">", token.end())
            if pos < 0:
                break
            continue
        if token.group("rest") is None:
            break
        pos = token.end()
        name = token.group("name").lower()
        if token.group("end"):
            _close(stack, name)
        elif name in _VOID:
            continue
        elif name in _RAW_TEXT and stack.top("svg") < 0 and stack.top("math") < 0:
            end_tag = re.compile(rf"</{re.escape(name)}[\s/>]", re.IGNORECASE).search(html, pos)
            if end_tag is None:
                break
            pos = end_tag.start()  # never pushed, so its end tag closes nothing
        elif name == "plaintext":
            break
        else:
            _close_implied(stack, name)
            if len(stack.names) >= max_depth:
                return html[: token.start()], True
            stack.push(name)
    return html, False


def _close(stack: _OpenElements, name: str) -> None:
    target = stack.top(name)
    if target < 0:
        return  # closes nothing: ignored, as HTML does
    # A special element's end tag closes through anything but a scope boundary; any
    # other end tag is ignored when a special element is open above its element.
    blocker = stack.top("#scope") if name in _SPECIAL else stack.top("#special")
    if blocker <= target:
        stack.pop_to(target)


def _close_implied(stack: _OpenElements, name: str) -> None:
    rule = _IMPLIED_END.get(name)
    if rule is None:
        if name == "option" and stack.names[-1:] == ["option"]:
            stack.pop_to(len(stack.names) - 1)
        return
    target = -1
    for closed in rule[0]:
        target = max(target, stack.top(closed))
    if target >= 0 and stack.top(_STOP_KEYS[name]) < target:
        stack.pop_to(target)
