"""The submissions and mapping the secret-leak tests sync: a few good rows and a few bad ones."""

HEADER = ["Email", "First name", "Subscribed at", "Comment"]
ROWS = [
    ["ada.leakcheck@example.com", "Ada", "2024-03-01", "hello"],
    ["grace.leakcheck@example.com", "Grace", "2024-03-02", "=HYPERLINK(\"http://x\")"],
    ["not-an-email", "Nobody", "2024-03-03", "+1 555"],          # skipped: invalid email
    ["linus.leakcheck@example.com", "Linus", "yesterday", "-dash"],  # skipped: invalid date
    ["", "Empty", "2024-03-05", "@at"],                              # skipped: no identifier
]
EMAILS = [row[0] for row in ROWS if "@" in row[0]]
MAPPING = {
    "version": 1, "widget": "Leak check", "list_id": 101, "identifier": "email",
    "fields": [
        {"source": "Email", "target": "email"},
        {"source": "First name", "target": "firstName"},
        {"source": "Subscribed at", "target": "signupDate", "type": "date"},
    ],
    "static_fields": [{"target": "signupSource", "value": "leak-test", "type": "string"}],
    "options": {},
}
