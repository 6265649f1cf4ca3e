# Veil's interface in English: the reference. Every key here must exist in every language
# (a test checks). Keep keys lowercase with dashes.

## Dates
datetime = { $month } { $day }, { $year }, { $time }
month-1 = Jan
month-2 = Feb
month-3 = Mar
month-4 = Apr
month-5 = May
month-6 = Jun
month-7 = Jul
month-8 = Aug
month-9 = Sep
month-10 = Oct
month-11 = Nov
month-12 = Dec

## Signing in
sign-in-title = Sign in
email = E-mail
password = Password
sign-in = Sign in
two-factor-title = Two-factor authentication
two-factor-intro = Enter the 6-digit code from your authenticator app, or one of your recovery codes.
code = Code
verify = Verify
cancel = Cancel
enroll-title = Set up two-factor authentication
enroll-intro = Two-factor authentication is required. Scan this code with an authenticator app (Authy, Google Authenticator, 1Password, …), then enter the 6-digit code it shows.
enroll-cant-scan = Can't scan it?
enroll-manual = Enter this key by hand:
enroll-submit = Turn on two-factor authentication
recovery-title = Save your recovery codes
recovery-new-title = Your new recovery codes
recovery-intro = Two-factor authentication is on. These recovery codes let you sign in if you lose your phone. Each works once. Store them somewhere safe now: they will not be shown again.
continue = Continue
recovery-used-title = Recovery code used
recovery-used = You signed in with a recovery code. It cannot be used again; { $count } remain. If you did not do this, tell your administrator now.
setup-title = Welcome to Veil
setup-intro = Welcome, { $name }. Choose a password for { $email }: at least 12 characters. Several unrelated words make a strong one that is easy to remember.
new-password = New password
set-password = Set password
link-invalid-title = Link not valid
link-invalid = This setup link was used already or has expired. Ask your administrator for a new one.

## Errors
error-credentials = invalid e-mail or password
error-code = invalid code
error-throttled = too many attempts; try again in { $seconds } seconds
error-busy = too many logins at once; try again shortly
error-network = not allowed from this network
error-forbidden = forbidden
error-reauth = confirm your password and code first
error-internal = Something went wrong.
error-password-short = use at least 12 characters
error-password-long = use at most 128 characters
error-password-guessable = this password is too common or too easy to guess; a few unrelated words make a strong one
error-invalid = This was not accepted: { $why }
error-window-closed = The 24-hour window is closed: send a template.
error-not-found = Not found, or not yours to see.

## Account
account-title = Your account
account-signed-in-as = Signed in as { $name } ({ $email }), role { $role }. Recovery codes left: { $count }.
sessions = Sessions
session-signed-in = Signed in
session-last-active = Last active
session-address = Address
session-browser = Browser
this-session = this session
log-out = Log out
log-out-others = Log out my other sessions
reauth-title = Confirm it's you
reauth-intro = Sensitive actions (roles, two-factor resets, tokens, exports, keys, policies) need your password and a code from the last { $minutes } minutes.
confirm = Confirm
recovery-codes = Recovery codes
recovery-renew-intro = Replace your recovery codes with ten new ones (after confirming it's you above); the old ones stop working.
recovery-renew = New recovery codes
change-password = Change password
current-password = Current password
language = Language
language-auto = As my browser says
save = Save

## Navigation
nav-label = Main
nav-inbox = Inbox
nav-admin = Administration
nav-audit = Audit
nav-account = Account
skip-to-content = Skip to the conversation
live-connected = Live
live-offline = Reconnecting…

## Inbox list
inbox-title = Inbox
view-mine = Mine
view-unassigned = Unassigned
view-team = My teams
view-all = All
filter-status = Status
filter-label = Label
filter-any = Any
filter-apply = Filter
search = Search
search-placeholder = Name or number
status-open = Open
status-pending = Pending
status-resolved = Resolved
unread-count = { $count ->
    [one] { $count } unread
   *[other] { $count } unread
}
conversations = Conversations
no-conversations = No conversations here.
unknown-customer = Unknown customer
erased-customer = Erased customer
window-open = Window open
window-closes = Window open until { $time }
window-closed = Window closed
pick-conversation = Choose a conversation.
back-to-list = Back to the list

## Conversation
messages = Messages
you = You
internal-note = Internal note
internal-note-by = Internal note by { $name }
kind-image = Photo
kind-video = Video
kind-audio = Voice or audio
kind-document = Document
kind-sticker = Sticker
kind-location = Location
kind-contacts = Contact card
kind-reaction = Reaction
kind-interactive = Reply
kind-button = Button reply
kind-template = Template
kind-unsupported = This type of message cannot be shown here ({ $kind }).
content-erased = This content was erased.
media-pending = Media is being fetched.
media-unavailable = Media is no longer available.
download = Download
reacted-with = Reacted with { $emoji }
replying-to = Replying to
replying-to-earlier = an earlier message
open-link = Open link
link-target = This link goes to:
link-warning = Links from customers can be fraudulent. Open only if you trust the address.
open-map = Open map
phone-label = Phone
tick-queued = Queued
tick-accepted = Accepted by WhatsApp
tick-sent = Sent
tick-delivered = Delivered
tick-read = Read
tick-played = Played
tick-failed = Failed
failed-reason = Not delivered: { $reason }

## Composer
composer = Reply
message-text = Message
send = Send
canned-replies = Canned replies
canned-none = No canned reply
insert = Insert
emoji = Emoji
attach = Attach a file
caption = Caption
upload = Send file
template-title = The customer has not written in 24 hours: only a template can be sent.
template = Template
template-params = Parameters (one per line)
send-template = Send template
add-note = Add an internal note
note-text = Note (staff only)
save-note = Save note
no-reply-permission = You may read this conversation but not reply.

## Contact panel
contact = Contact
name = Name
number = Number
reveal-number = Reveal number
revealed-recorded = Revealing is recorded in the access log.
labels = Labels
no-labels = No labels yet.
update-labels = Update labels
new-label = New label
add-label = Add label
assignment = Assignment
assignee = Agent
team = Team
nobody = Nobody
assign = Assign
conversation-status = Status
resolve = Resolve
reopen = Reopen
mark-pending = Mark pending
notes = Notes

# Scheduled messages
send-later = Send later
send-at = Send at
schedule = Schedule
schedule-after-window = Schedule even if the 24-hour window will have closed
window-closes-at = The 24-hour window closes { $time }.
later-after-window = That is after the window closes: WhatsApp will refuse this message unless the customer writes again first.
error-window-will-close = The 24-hour window closes { $time }, before that time: WhatsApp will refuse this message unless the customer writes again first. Tick “Schedule even if the window will have closed” to keep it.
tick-scheduled = Scheduled
tick-cancelled = Cancelled
cancel-scheduled = Cancel this scheduled message

# Admin pages
admin-sections = Administration sections
admin-users = Users
admin-teams = Teams
admin-channels = Channels
admin-inbox = Replies and labels
admin-policies = Policies
invite-link-intro = The user was created. Send them this one-time setup link through a channel you trust; it is shown only now.
admin-reauth-intro = Inviting users, changing roles, enabling users, resetting a second factor and changing policies need your password and code again.
role = Role
role-owner = Owner
role-admin = Administrator
role-supervisor = Supervisor
role-agent = Agent
role-auditor = Auditor
user-status = Status
user-active = Active
user-disabled = Disabled
second-factor = Second factor
second-factor-on = Set up
second-factor-pending = Not yet set up
teams = Teams
actions = Actions
change-role = Change role
disable-user = Disable
enable-user = Enable
reset-2fa = Reset second factor
end-sessions = Sign out everywhere
invite-user = Invite a user
invite = Invite
member = Member
presence = Presence
online = Online
offline = Offline
open-conversations = Open conversations
remove = Remove
add-member = Add member
add = Add
auto-assign = Assign new conversations automatically
capacity = Open conversations per member at most
auto-assign-help = Automatic assignment gives each new unassigned conversation of the team (or of a channel routed to it) to the online member who has waited longest, up to the capacity. Online means signed in with the inbox open in the last few minutes. Conversations wait in Unassigned while nobody is free.
new-team = New team
create-team = Create team
channels-intro = Each business number is a channel. Name it, and route its conversations to a team: they are then the team's, and its automatic assignment applies.
business-number = Business number
phone-number-id = Phone number ID
open-conversations-all = Conversations
channel-settings = Settings
route-to-team = Conversations go to
canned-help = Agents insert these with the canned replies list or by typing /shortcut. {"{"}name{"}"} becomes the customer's name, {"{"}agent{"}"} the agent's.
shortcut = Shortcut
text = Text
delete = Delete
policy-2fa-always = A second factor (authenticator app) is required of every user, always; it cannot be switched off.
policy-idle = Sign out after this many idle minutes
policy-absolute = Sign out after this many hours in any case
policy-reauth = Sensitive actions need password and code from the last … minutes
policy-allowlists = Networks allowed to sign in
policy-allowlist-help = Networks per role (such as 10.0.0.0/8 or 2001:db8::/32), separated by commas; empty means from anywhere. Your address now is { $address }; a list that leaves you out is refused.
api-tokens = API tokens

# Unread counts past the cap
unread-count-more = more than { $count } unread

# Thread paging
earlier-messages = Earlier messages
latest-messages = Back to the newest messages

# Audit page and alerts
when = When
nav-alerts = Alerts
admin-alerts = Alerts
alerts-open = { $count ->
    [one] One alert is waiting to be acknowledged.
   *[other] { $count } alerts are waiting to be acknowledged.
}
alerts-none = No alerts so far.
alert-rule = Rule
alert-detail = What happened
alert-delivery = Sent
alert-state = State
alert-acknowledge = Acknowledge
alert-acknowledged-by = Acknowledged by { $name },
alert-email = e-mail
alert-webhook = webhook
alert-delivery-pending = waiting
alert-delivery-sent = sent
alert-delivery-failed = failed
alert-rule-views_above_baseline = Far more conversations opened than usual
alert-rule-bulk_export = Bulk export
alert-rule-many_reveals = Many phone numbers revealed
alert-rule-new_network_login = Sign-in from a new network
alert-rule-failed_logins = Burst of failed sign-ins
alert-rule-off_hours = Activity outside working hours
alert-rule-token_new_address = API token used from a new address
alert-rule-audit_log_broken = The audit log failed verification
audit-title = Audit log
audit-integrity = Integrity
audit-size = { $count ->
    [one] The log holds one entry.
   *[other] The log holds { $count } entries.
}
audit-verified-ok = Verified: { $entries ->
    [one] one entry
   *[other] { $entries } entries
} and { $checkpoints ->
    [one] one signed checkpoint are
   *[other] { $checkpoints } signed checkpoints are
} intact.
audit-verified-broken = Verification FAILED: { $problem }
audit-not-verified = Not verified yet.
audit-verify-now = Verify now
audit-checkpoint = Latest signed checkpoint
audit-checkpoint-text = Checkpoint and verifier key
audit-key = Verifier key
audit-checkpoint-help = Keep a copy of a checkpoint elsewhere; "veil audit verify --against FILE" proves the log still extends it.
audit-no-checkpoint = No checkpoint has been signed yet.
audit-unsigned = { $count ->
    [one] one entry since
   *[other] { $count } entries since
}
audit-entries = Entries
audit-actor = Actor
audit-action = Action
audit-target = Target
audit-from = From
audit-to = To
audit-filter = Filter
audit-clear = Clear
audit-days-utc = Days are in UTC.
audit-export-csv = Export CSV
audit-export-json = Export JSON
audit-no-entries = No entries match.
audit-ip = Address
audit-outcome = Outcome
audit-reason = Reason
audit-outcome-ok = ok
audit-outcome-denied = denied
audit-outcome-failed = failed
audit-pages = Pages of the log
audit-newest = Newest entries
audit-older = Older entries

## Guard (C7)
guard-title = Guard
guard-blocked = Not sent: the guard found { $kinds }. { $advice }
guard-advice-card = Send a payment link instead of card details, and never ask for a card number or CVV.
guard-advice-code = Never ask a customer for a verification code, PIN or password: whoever has it can take over the account.
guard-advice-other = Remove it and send again, or ask an admin about the guard policy.
guard-link-flagged = The guard flagged this link:
guard-open-anyway = I understand the risk: show the link
admin-guard = Guard
guard-policy-intro = What the guard does with each finding, for messages from customers (inbound) and to them (outbound). Masked values are never stored; blocked messages are not sent; every decision is kept with the message or in the audit log.
guard-detector = Detector
guard-inbound = Inbound
guard-outbound = Outbound
guard-save = Save policy
guard-changed = Changed from the default
guard-reset = Back to defaults
guard-kind-card_number = Card number
guard-kind-iban = IBAN
guard-kind-email = E-mail address
guard-kind-phone = Phone number
guard-kind-br_cpf = CPF (Brazil)
guard-kind-br_cnpj = CNPJ (Brazil)
guard-kind-it_codice_fiscale = Codice fiscale (Italy)
guard-kind-de_steuer_id = Steuer-ID (Germany)
guard-kind-cn_resident_id = Resident ID (China)
guard-kind-pt_nif = NIF (Portugal)
guard-kind-es_dni_nie = DNI/NIE (Spain)
guard-kind-sa_national_id = National ID (Saudi Arabia)
guard-kind-uk_nino = National Insurance number (UK)
guard-kind-us_ssn = SSN (US)
guard-kind-otp_code = One-time code
guard-kind-password = Password
guard-kind-code_request = Asks for a code
guard-kind-card_request = Asks for card details
guard-kind-phishing_url = Phishing link
guard-kind-suspicious_url = Suspicious link
guard-kind-remote_access = Remote access
guard-kind-number_change = Moves to another number
guard-kind-payment_redirect = New bank details
guard-kind-urgency = Pressure
guard-reason-lookalike = imitates a known brand
guard-reason-brand_elsewhere = brand name in someone else's address
guard-reason-punycode = punycode address
guard-reason-mixed_script = mixed alphabets
guard-reason-shortener = link shortener
guard-reason-ip_literal = bare IP address
guard-reason-unusual_port = unusual port
guard-reason-credentials = login details in the link
guard-reason-suspicious_tld = risky top-level domain
guard-reason-text_mismatch = text names another address
guard-reason-no_tls = not encrypted (http)
guard-reason-pressure_nearby = message pressures or asks for a code
guard-action-allow = allow
guard-action-warn = warn
guard-action-mask = mask
guard-action-block = block
guard-kind-attachment = Dangerous attachment
media-quarantined = Quarantined by the guard: this file could harm a computer (a program, a script, macros or active content). It is not shown.
media-release = Download anyway (admins)
media-release-warning = Open it only on an isolated machine. The download is recorded in the audit log.
