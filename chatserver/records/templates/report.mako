## The privacy report's wording (English). Facts come from ``data``, the JSON of
## chatserver.records.privacy.collect; see blocks.mako for the tags.
<%namespace name="b" file="blocks.mako"/>
<%!
    def codes(items):
        """`a`, `b`: names as code."""
        return ", ".join(f"`{item}`" for item in items)

    def counted(counts):
        """2 teams, 1 admin: a count before each name, the names in order."""
        return ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))

    def each_count(counts):
        """messages 3, metadata 1: each name before its count, in the given order."""
        return ", ".join(f"{name} {n}" for name, n in counts.items())

    def rule_list(rules):
        return ", ".join(f"`{category}` {duration}" for category, duration in rules.items())
%>
<%
    inst, ret = data["installation"], data["retention"]
    sweeps, backups = ret["sweeps"], data["backups"]
    enc, log, browser = data["encryption"], data["logging"], data["browser"]
%>
<%b:h1>Privacy report: ${inst["origin"]}</%b:h1>
<%b:p>Generated ${iso(data["generated_at"])} by ${data["software"]["name"]} \
${data["software"]["version"]} from this installation's settings and database \
(`chatserver privacy-report`, `GET /api/admin/privacy-report`).</%b:p>
<%b:p>**${data["disclaimer"]}**</%b:p>

<%b:h2>Findings</%b:h2>
<%b:ul>
% for finding in data["findings"]:
<%b:li>${finding}</%b:li>
% endfor
% if not data["findings"]:
<%b:li>Nothing to point out.</%b:li>
% endif
</%b:ul>

<%b:h2>Installation</%b:h2>
<%b:ul>
<%b:li>Public origin: `${inst["origin"]}` (${"https" if inst["https"] else "not https"})</%b:li>
<%b:li>Installation id: `${inst["id"]}` (random, not secret: staff passwords are salted with \
it, so sign-in does not depend on the public origin)</%b:li>
<%b:li>Database: ${inst["database_kind"]}, `${inst["database"]}`</%b:li>
<%b:li>Keystore (storage keys, apart from the database): `${inst["keystore"]}`</%b:li>
<%b:li>Fan-out between processes: \
% if inst["redis"]:
Redis `${inst["redis"]}` (frames in transit only)\
% else:
in-process (one process, no Redis)\
% endif
</%b:li>
<%b:li>Staff sessions last ${format(inst["session_hours"], "g")} hours without activity; \
second factor (TOTP) ${"required" if inst["require_totp"] else "NOT required"}; \
${inst["login_attempts"]} failed sign-ins per 15 minutes lock an account</%b:li>
</%b:ul>

<%b:h2>What is stored, where, for how long, who can read it</%b:h2>
<%b:table>
<%b:th>data</%b:th><%b:th>where</%b:th><%b:th>contents</%b:th>\
<%b:th>kept (retention rule)</%b:th><%b:th>end-to-end</%b:th><%b:th>who can read</%b:th>
% for g in data["groups"]:
<%b:tr>
<%b:td>${g["name"]}</%b:td>
<%b:td>\
% if g["place"] == "database":
main database: \
% elif g["place"] == "keystore":
keystore (a database of its own)\
% endif
${codes(g["tables"])}</%b:td>
<%b:td>${g["what"]}</%b:td>
<%b:td>${codes(g["retention"]) or g["kept"]}</%b:td>
<%b:td>${g["e2e"]}</%b:td>
<%b:td>${g["readers"]}</%b:td>
</%b:tr>
% endfor
</%b:table>
<%b:ul>
<%b:li>Browser, ${browser_text} (key `${browser["client_session_storage_key"]}`).</%b:li>
<%b:li>Server memory: ${data["memory"]}.</%b:li>
<%b:li>Schema check: ${data["schema"]["tables"]} tables, ${data["schema"]["columns"]} columns; \
tables not accounted for above: ${", ".join(data["schema"]["unclassified_tables"]) or "none"}; \
columns named like an address or user agent: \
${", ".join(data["schema"]["address_like_columns"]) or "none"}.</%b:li>
</%b:ul>

<%b:h2>Retention rules in force</%b:h2>
<%b:p>Durations count from the event named; past its due time a record is hidden at once and \
deleted by the next sweep. Operator defaults: ${rule_list(ret["operator"]["defaults"])}. \
Minimum a team may set: ${rule_list(ret["operator"]["minimum"]) or "none"}. \
Maximum: ${rule_list(ret["operator"]["maximum"]) or "none"}. \
Applied operator-wide, whatever a team sets: ${codes(ret["operator"]["operator_wide"])}.</%b:p>
<%
    teams = data["teams"] or [{"slug": "(no team yet)", "rules": ret["without_team"]}]
%>
% for team in teams:
<%b:h2>Team `${team["slug"]}`${" (archived)" if team.get("archived") else ""}</%b:h2>
<%b:table>
<%b:th>category</%b:th><%b:th>kept for</%b:th><%b:th>set by</%b:th><%b:th>counts from</%b:th>\
<%b:th>deletes</%b:th><%b:th>min</%b:th><%b:th>max</%b:th>
% for r in team["rules"]:
<%b:tr>
<%b:td>`${r["category"]}`</%b:td>
<%b:td>${words(r["minutes"], "en")} (${r["duration"]})</%b:td>
<%b:td>${r["source"]}${" (team rule ignored)" if r["team_rule_ignored"] else ""}</%b:td>
<%b:td>${r["counts_from"]}</%b:td>
<%b:td>${r["deletes"]}</%b:td>
<%b:td>${r["min"] or "-"}</%b:td>
<%b:td>${r["max"] or "-"}</%b:td>
</%b:tr>
% endfor
</%b:table>
% if "members" in team:
<%b:p>Allowed widget origins: ${codes(team["origins"]) or "none"}. \
Active members: ${counted(team["members"]) or "none"}. \
On-device transcript for clients: ${"offered" if team["transcript"] else "off"} \
(made in the browser from the decrypted messages; the server never receives it).</%b:p>
% endif
% endfor
<%b:p>Sweeps run every ${format(sweeps["interval_minutes"], "g")} minutes \
% if sweeps["in_process"]:
inside the server process\
% else:
in `chatserver retention worker` (not in the server process)\
% endif
, ${sweeps["batch"]} rows per batch with ${sweeps["pause_ms"]} ms between batches. \
Legal holds in force now: ${ret["holds_in_force"]}.</%b:p>

<%b:h2>Who can read what</%b:h2>
<%b:p>Active staff accounts: ${counted(data["accounts"]) or "none"}. Counsellors and \
supervisors reach the teams they are members of, admins every team. Message content is \
readable only with the keys named below; the server and whoever operates it see ciphertext \
and the metadata listed above.</%b:p>

<%b:h2>Encryption</%b:h2>
<%b:p>Suite `${enc["suite"]}`: ${enc["primitives"]}.</%b:p>
<%b:table>
<%b:th>key</%b:th><%b:th>held by</%b:th><%b:th>lifetime</%b:th>
% for k in enc["keys"]:
<%b:tr><%b:td>${k["key"]}</%b:td><%b:td>${k["held_by"]}</%b:td><%b:td>${k["lifetime"]}</%b:td></%b:tr>
% endfor
</%b:table>
<%b:ul>
% for slug, e in enc["epochs"].items():
<%b:li>Team `${slug}`: ${e["unretired"]} epoch(s) not yet retired, keys uploaded until \
${e["keys_until"]}</%b:li>
% endfor
% if not enc["epochs"]:
<%b:li>No team has uploaded epoch keys yet.</%b:li>
% endif
</%b:ul>
<%b:p>Not protected: ${enc["not_protected"]}.</%b:p>

<%b:h2>Logging</%b:h2>
<%b:ul>
<%b:li>Level `${log["level"]}`: written are ${", ".join(log["written"])}</%b:li>
<%b:li>Destination: ${log["destination"]}</%b:li>
<%b:li>Log lines carry: ${log["carries"]}</%b:li>
<%b:li>Never logged: ${log["never"]}</%b:li>
<%b:li>Access log: ${log["access_log"]}</%b:li>
<%b:li>Metrics: ${log["metrics"]}</%b:li>
<%b:li>A reverse proxy in front is outside this report: switch its access log off \
(deploy/nginx/chatserver.conf does).</%b:li>
</%b:ul>

<%b:h2>Cookies and browser storage</%b:h2>
<%b:p>Clients (the widget): no cookie is set, by the chat page or by the server.</%b:p>
<%b:table>
<%b:th>staff cookie</%b:th><%b:th>purpose</%b:th><%b:th>HttpOnly</%b:th><%b:th>SameSite</%b:th>\
<%b:th>Secure</%b:th><%b:th>path</%b:th><%b:th>max age</%b:th>
% for c in data["cookies"]["staff"]:
<%b:tr>
<%b:td>`${c["name"]}`</%b:td>
<%b:td>${c["purpose"]}</%b:td>
<%b:td>${"yes" if c["http_only"] else "no"}</%b:td>
<%b:td>${c["same_site"]}</%b:td>
<%b:td>${"yes" if c["secure"] else "no"}</%b:td>
<%b:td>${c["path"]}</%b:td>
<%b:td>${c["max_age_seconds"]} s</%b:td>
</%b:tr>
% endfor
</%b:table>
<%b:ul>
<%b:li>Client tab sessionStorage: `${browser["client_session_storage_key"]}`; other client-side \
storage used by the widget's code: ${", ".join(browser["client_other_storage"]) or "none"}</%b:li>
<%b:li>Staff pages (console, admin area) localStorage: \
${codes(browser["staff_local_storage"]) or "none"}; \
sessionStorage: ${codes(browser["staff_session_storage"]) or "none"}</%b:li>
<%b:li>Read from the files served from `${browser["served_from"]}`.</%b:li>
</%b:ul>

<%b:h2>Third-party requests and Content-Security-Policy</%b:h2>
<%b:p>Origins other than this server that any policy below lets a page load from or send to: \
${codes(data["third_party_sources"]) or "none"}. The widget's loader is fetched by the \
agency's page from this server; the chat runs in an iframe of this server's origin, which the \
agency's page and its scripts cannot read.</%b:p>
<%b:p>API responses, the start page and files without a policy of their own:</%b:p>
<%b:code>${data["csp"]["default"]}</%b:code>
<%b:p>The duty console (`/console`):</%b:p>
<%b:code>${data["csp"]["console"]}</%b:code>
<%b:p>The admin area (`/admin`):</%b:p>
<%b:code>${data["csp"]["admin"]}</%b:code>
<%b:p>The admin area's preview of the embed snippet (`/admin/preview`):</%b:p>
<%b:code>${data["csp"]["snippet_preview"]}</%b:code>
% for slug, policy in data["csp"]["widget_frame"].items():
<%b:p>The chat page of team `${slug}` (`/widget/frame/${slug}`):</%b:p>
<%b:code>${policy}</%b:code>
% endfor

<%b:h2>Backups and how deletion reaches them</%b:h2>
<%b:ul>
<%b:li>Database: ${backups["database"]}</%b:li>
<%b:li>Keystore: ${backups["keystore"]}</%b:li>
<%b:li>Deletion: ${backups["deletion"]}</%b:li>
</%b:ul>

<%b:h2>Last sweep reports (newest first, at most ${sweep_reports_shown})</%b:h2>
% if data["sweep_reports"]:
<%b:table>
<%b:th>audit entry</%b:th><%b:th>finished</%b:th><%b:th>deleted</%b:th>\
<%b:th>keys destroyed</%b:th><%b:th>held kept</%b:th><%b:th>errors</%b:th><%b:th>duration</%b:th>
% for r in data["sweep_reports"]:
<%b:tr>
<%b:td>${r["id"]}</%b:td>
<%b:td>${iso(r["at"])}</%b:td>
<%b:td>${each_count(r.get("counts") or {}) or "nothing due"}</%b:td>
<%b:td>${r.get("keys_destroyed", 0)}</%b:td>
<%b:td>${r.get("holds_skipped", 0)}</%b:td>
<%b:td>${", ".join(r.get("errors") or []) or "none"}</%b:td>
<%b:td>${r.get("duration_ms", 0)} ms</%b:td>
</%b:tr>
% endfor
</%b:table>
% else:
<%b:p>No sweep has written a report yet.</%b:p>
% endif
