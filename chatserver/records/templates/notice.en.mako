## The privacy notice in English: for the agency's website, and (its last paragraph) the
## text of the widget's consent screen. ``period`` holds this installation's periods in
## words, ``key`` the client's sessionStorage key; see blocks.mako for the tags.
<%namespace name="b" file="blocks.mako"/>
<%b:h1>Privacy notice: the counselling chat</%b:h1>
<%b:p>[Agency: your name, postal address and the contact of your data-protection officer. \
The legal basis you rely on, for example Art. 6(1)(e) or (a) and Art. 9(2) GDPR: ask your \
data-protection officer.]</%b:p>

<%b:h2>What happens to your data</%b:h2>
<%b:ul>
<%b:li>You need no account and no name. We do not store or log your IP address or your \
browser, and the chat sets no cookies.</%b:li>
<%b:li>Your messages are end-to-end encrypted in your browser. Only the counselling team can \
read them; the server stores them encrypted and cannot read them.</%b:li>
<%b:li>The server knows that a chat took place: when it started and ended, which team and \
topic, and whether a counsellor answered.</%b:li>
<%b:li>While the chat is open, your browser keeps what it needs to continue the chat in this \
tab only (sessionStorage, key `${key}`). Quick exit and deleting the chat wipe it; closing the \
tab drops it.</%b:li>
</%b:ul>

<%b:h2>How long we keep it</%b:h2>
<%b:ul>
<%b:li>Messages and the team's notes: deleted ${period["messages"]} after the chat \
ended.</%b:li>
<%b:li>A chat nobody answered: deleted ${period["abandoned"]} after your last \
activity.</%b:li>
<%b:li>A chat with no activity for ${period["idle_close"]} is ended.</%b:li>
<%b:li>The record that a chat took place (times, team, topic): deleted \
${period["metadata"]} after it ended. Only anonymous counts stay (how many chats, how long \
people waited), with nothing that points back to you.</%b:li>
<%b:li>If the team ends a chat because of abuse, it blocks that chat for a while (usually \
${period["block_default"]}, at most ${period["block_max"]}). While the block lasts you cannot \
delete that chat yourself; it is deleted by the rules above, and a one-way code (hash) of it \
is kept until ${period["blocks"]} after the block ends.</%b:li>
<%b:li>In exceptional cases a supervisor can keep one chat longer (a legal hold, with a \
reason and an end date); this is recorded in the audit log. [Agency: say when you do \
this.]</%b:li>
</%b:ul>

<%b:h2>Your rights</%b:h2>
<%b:ul>
<%b:li>Deletion: you can delete your chat yourself at any time with "Delete this chat". It \
is deleted on the server at once, with its keys; nobody can restore it.</%b:li>
<%b:li>Access: while the chat exists and its tab is open, you see all of it in the chat \
window. We cannot tell who you are, so we cannot find your chat for you, and we do not need \
to know who you are.</%b:li>
<%b:li>You may complain to a data-protection supervisory authority.</%b:li>
</%b:ul>

## The last paragraph: chatserver.web.api.consent offers it as a team's consent text.
<%b:h2>Text for the consent screen of the chat</%b:h2>
<%b:p>Before you start: your chat is end-to-end encrypted; only the counselling team reads \
it. We store no IP address and set no cookies. Messages are deleted ${period["messages"]} \
after the chat ends, and you can delete your chat yourself at any time. Quick exit leaves at \
once. [Link: privacy notice]</%b:p>
