## A document's blocks (``doc``, a list of chatserver.records.privacy_render.Block) as a
## printable page with everything inline: no script, no image, no other request. Every
## expression is escaped (the lookup's default filter); block text goes through ``inline``
## instead, which escapes it and then turns its `code` and **strong** into tags.
<%!
    import html
    import re

    _CODE = re.compile(r"`([^`]+)`")
    _STRONG = re.compile(r"\*\*([^*]+)\*\*")

    def inline(text):
        escaped = html.escape(text, quote=False)
        return _STRONG.sub(r"<strong>\1</strong>", _CODE.sub(r"<code>\1</code>", escaped))
%>\
<% title = next((body for kind, body in doc if kind == "h1"), "Privacy report") %>\
<!doctype html>
<html lang="${lang}"><head><meta charset="utf-8">\
<meta name="referrer" content="no-referrer"><title>${title}</title>\
<style>${style | n}</style></head><body>
% for kind, body in doc:
% if kind in ("h1", "h2", "p"):
<${kind}>${body | n, inline}</${kind}>
% elif kind == "code":
<pre>${body}</pre>
% elif kind == "ul":
<ul>\
% for item in body:
<li>${item | n, inline}</li>\
% endfor
</ul>
% elif kind == "table":
<% headers, rows = body %>\
<table><thead><tr>\
% for heading in headers:
<th scope="col">${heading | n, inline}</th>\
% endfor
</tr></thead><tbody>\
% for cells in rows:
<tr>\
% for text in cells:
<td>${text | n, inline}</td>\
% endfor
</tr>\
% endfor
</tbody></table>
% endif
% endfor
</body></html>
