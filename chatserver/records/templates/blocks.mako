## The vocabulary the wording templates (report.mako, notice.*.mako) write in: each tag
## adds one block to ``doc``, the list chatserver.records.privacy_render turns into Markdown
## (markdown.mako) or HTML (html.mako). A block's text is the tag's body exactly as
## written (a line ending in a backslash runs on into the next); in it `code` and
## **strong** are the only markup. Text outside a tag is not part of the document.
<%def name="h1()"><% doc.append(("h1", capture(caller.body))) %></%def>
<%def name="h2()"><% doc.append(("h2", capture(caller.body))) %></%def>
<%def name="p()"><% doc.append(("p", capture(caller.body))) %></%def>
<%def name="code()"><% doc.append(("code", capture(caller.body))) %></%def>
## A list: its items are the li tags inside it.
<%def name="ul()"><% doc.append(("ul", [])) %>${caller.body()}</%def>
<%def name="li()"><% doc[-1][1].append(capture(caller.body)) %></%def>
## A table: its column headings are the th tags inside it, its rows the tr tags, each
## with its td cells.
<%def name="table()"><% doc.append(("table", ([], []))) %>${caller.body()}</%def>
<%def name="th()"><% doc[-1][1][0].append(capture(caller.body)) %></%def>
<%def name="tr()"><% doc[-1][1][1].append([]) %>${caller.body()}</%def>
<%def name="td()"><% doc[-1][1][1][-1].append(capture(caller.body)) %></%def>
