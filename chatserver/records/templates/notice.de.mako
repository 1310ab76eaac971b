## Die Datenschutzhinweise auf Deutsch (mit "Du"): für die Website der Beratungsstelle und
## (der letzte Absatz) für den Einwilligungsbildschirm des Widgets. ``period`` hält die
## Fristen dieser Installation in Worten, ``key`` den sessionStorage-Schlüssel des
## Widgets; die Tags erklärt blocks.mako.
<%namespace name="b" file="blocks.mako"/>
<%b:h1>Datenschutzhinweise: der Beratungs-Chat</%b:h1>
<%b:p>[Beratungsstelle: Name, Anschrift und Kontakt der oder des Datenschutzbeauftragten. \
Die Rechtsgrundlage, z. B. Art. 6 Abs. 1 lit. e oder a und Art. 9 Abs. 2 DSGVO: mit der oder \
dem Datenschutzbeauftragten klären.]</%b:p>

<%b:h2>Was mit Deinen Daten passiert</%b:h2>
<%b:ul>
<%b:li>Du brauchst kein Konto und keinen Namen. Wir speichern und protokollieren weder Deine \
IP-Adresse noch Deinen Browser, und der Chat setzt keine Cookies.</%b:li>
<%b:li>Deine Nachrichten werden schon in Deinem Browser Ende-zu-Ende-verschlüsselt. Nur das \
Beratungsteam kann sie lesen; der Server speichert sie verschlüsselt und kann sie nicht \
lesen.</%b:li>
<%b:li>Der Server weiß, dass ein Chat stattgefunden hat: wann er begann und endete, welches \
Team und welches Thema, und ob jemand geantwortet hat.</%b:li>
<%b:li>Solange der Chat offen ist, behält Dein Browser nur in diesem Tab, was er zum \
Weiterchatten braucht (sessionStorage, Schlüssel `${key}`). „Schnell weg“ und das Löschen des \
Chats entfernen es; wenn Du den Tab schließt, verschwindet es.</%b:li>
</%b:ul>

<%b:h2>Wie lange wir Daten aufbewahren</%b:h2>
<%b:ul>
<%b:li>Nachrichten und Notizen des Teams: gelöscht ${period["messages"]} nach dem Ende des \
Chats.</%b:li>
<%b:li>Ein Chat, auf den niemand geantwortet hat: gelöscht ${period["abandoned"]} nach Deiner \
letzten Aktivität.</%b:li>
<%b:li>Ein Chat ohne Aktivität wird nach ${period["idle_close"]} beendet.</%b:li>
<%b:li>Die Angabe, dass ein Chat stattfand (Zeiten, Team, Thema): gelöscht \
${period["metadata"]} nach seinem Ende. Danach bleiben nur anonyme Zahlen (wie viele Chats, \
wie lange gewartet wurde), die nicht auf Dich zurückführen.</%b:li>
<%b:li>Beendet das Team einen Chat wegen Missbrauchs, sperrt es diesen Chat für eine Zeit \
(meist ${period["block_default"]}, höchstens ${period["block_max"]}). Solange die Sperre \
dauert, kannst Du diesen Chat nicht selbst löschen; er wird nach den Regeln oben gelöscht, \
und ein nicht umkehrbarer Code (Hash) davon bleibt bis ${period["blocks"]} nach dem Ende der \
Sperre.</%b:li>
<%b:li>In Ausnahmefällen kann die Leitung einen einzelnen Chat länger aufbewahren (mit \
Begründung und Enddatum); das wird protokolliert. [Beratungsstelle: sagt, wann Ihr das \
tut.]</%b:li>
</%b:ul>

<%b:h2>Deine Rechte</%b:h2>
<%b:ul>
<%b:li>Löschen: Du kannst Deinen Chat jederzeit selbst mit „Diesen Chat löschen“ löschen. Er \
wird sofort auf dem Server gelöscht, mit seinen Schlüsseln; niemand kann ihn \
wiederherstellen.</%b:li>
<%b:li>Auskunft: Solange der Chat besteht und sein Tab offen ist, siehst Du ihn vollständig \
im Chatfenster. Wir wissen nicht, wer Du bist, deshalb können wir Deinen Chat nicht für Dich \
heraussuchen, und wir müssen auch nicht wissen, wer Du bist.</%b:li>
<%b:li>Du kannst Dich bei einer Datenschutz-Aufsichtsbehörde beschweren.</%b:li>
</%b:ul>

## Der letzte Absatz: chatserver.web.api.consent schlägt ihn als Einwilligungstext vor.
<%b:h2>Text für den Einwilligungsbildschirm im Chat</%b:h2>
<%b:p>Bevor Du anfängst: Dein Chat ist Ende-zu-Ende-verschlüsselt; nur das Beratungsteam \
liest ihn. Wir speichern keine IP-Adresse und setzen keine Cookies. Nachrichten werden \
${period["messages"]} nach dem Ende des Chats gelöscht, und Du kannst Deinen Chat jederzeit \
selbst löschen. Mit „Schnell weg“ bist Du sofort weg. [Link: Datenschutzhinweise]</%b:p>
