## A document's blocks (``doc``, a list of chatserver.records.privacy_render.Block) as
## Markdown: blocks apart by a blank line.
<%!
    def cell(text):
        """A table cell's text on one line, its pipes escaped."""
        return text.replace("|", "\\|").replace("\n", " ")

    def row(cells):
        return "| " + " | ".join(map(cell, cells)) + " |"
%>\
% for kind, body in doc:
% if not loop.first:

% endif
% if kind == "h1":
# ${body}
% elif kind == "h2":
<%text>##</%text> ${body}
% elif kind == "p":
${body}
% elif kind == "code":
```
${body}
```
% elif kind == "ul":
% for item in body:
- ${item}
% endfor
% elif kind == "table":
<% headers, rows = body %>\
${row(headers)}
|${" --- |" * len(headers)}
% for cells in rows:
${row(cells)}
% endfor
% endif
% endfor
