"""Ordinary tool definitions, in OpenAI's request shape, and the calls an agent sends back with
them: what a route that screens the tools a key offers must let through (tests/server/
test_tool_screening.py). Written as public tool catalogues write them: imperative guidance ("Only
use this when...", "Never send without..."), enums, defaults, formats, patterns, nested objects."""

from __future__ import annotations

from typing import Any


def fn(name: str, description: str, properties: dict[str, Any], required: tuple[str, ...] = (), **extra: Any):
    schema = {"type": "object", "properties": properties, "required": list(required), **extra}
    return {"type": "function", "function": {"name": name, "description": description, "parameters": schema}}


def S(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


TOOLS = [
    fn(
        "get_current_weather",
        "Get the current weather in a given location. Use this when the user asks about "
        "weather, temperature or whether to bring an umbrella.",
        {
            "location": S("The city and state, e.g. San Francisco, CA"),
            "unit": {
                "type": "string",
                "enum": ["celsius", "fahrenheit"],
                "description": "The temperature unit to use. Infer this from the user's location.",
            },
        },
        ["location"],
    ),
    fn(
        "get_forecast",
        "Get an N-day weather forecast for a city. Returns one entry a day with the high, the low "
        "and the chance of rain.",
        {
            "city": S("City name, e.g. Lyon"),
            "days": {
                "type": "integer",
                "minimum": 1,
                "maximum": 14,
                "default": 3,
                "description": "How many days to forecast",
            },
        },
        ["city"],
    ),
    fn(
        "web_search",
        "Search the web for up-to-date information. Only use this when the answer is not in the "
        "conversation or may have changed recently (news, prices, schedules). Prefer precise queries; do not "
        "include personal information in the query.",
        {
            "query": S("The search query, in the words a web page would use"),
            "num_results": {"type": "integer", "default": 5, "minimum": 1, "maximum": 20},
            "recency": {
                "type": "string",
                "enum": ["day", "week", "month", "any"],
                "default": "any",
                "description": "Only return results newer than this",
            },
        },
        ["query"],
    ),
    fn(
        "calculator",
        "Evaluate an arithmetic expression exactly. Always use this tool for arithmetic instead of "
        "computing in your head; supports + - * / ^, parentheses and sqrt().",
        {"expression": S("The expression, e.g. (12.5 * 4) / 3")},
        ["expression"],
    ),
    fn(
        "run_sql_query",
        "Run a read-only SQL query against the analytics warehouse (PostgreSQL 15) and return "
        "up to 200 rows as JSON. Only SELECT statements are allowed. Always qualify table names with the schema "
        "and add a LIMIT. Tables: sales.orders(id, customer_id, total, created_at), "
        "sales.customers(id, name, country).",
        {
            "query": S("A single SELECT statement"),
            "timeout_s": {"type": "number", "default": 30, "description": "Abort the query after this many seconds"},
        },
        ["query"],
        additionalProperties=False,
    ),
    fn(
        "create_calendar_event",
        "Create an event in the user's primary Google Calendar. Confirm the date, time "
        "and attendees with the user before calling this. Times are in the user's time zone unless given.",
        {
            "title": S("Short title of the event, e.g. 'Dentist'"),
            "start": S("Start time, ISO 8601", format="date-time"),
            "end": S("End time, ISO 8601", format="date-time"),
            "attendees": {
                "type": "array",
                "items": {"type": "string", "format": "email"},
                "description": "E-mail addresses of the people to invite",
            },
            "reminder_minutes": {"type": "integer", "default": 10},
            "visibility": {"type": "string", "enum": ["default", "public", "private"]},
        },
        ["title", "start", "end"],
    ),
    fn(
        "list_calendar_events",
        "List the user's calendar events between two dates, earliest first.",
        {
            "time_min": S("Lower bound (inclusive), ISO 8601"),
            "time_max": S("Upper bound (exclusive), ISO 8601"),
            "max_results": {"type": "integer", "default": 25},
        },
        ["time_min", "time_max"],
    ),
    fn(
        "send_email",
        "Send an e-mail on the user's behalf. Never send without the user's explicit confirmation "
        "of the recipients and the body. Do not attach files.",
        {
            "to": {"type": "array", "items": {"type": "string"}, "description": "Recipients"},
            "subject": S("Subject line"),
            "body": S("Plain-text body. Sign with the user's name."),
            "cc": {"type": "array", "items": {"type": "string"}},
        },
        ["to", "subject", "body"],
    ),
    fn(
        "lookup_order",
        "Look up a customer's order by its order number. Call this whenever the customer asks "
        "about a delivery, a refund or an invoice; if the order is not found, ask the customer to check the number.",
        {"order_id": S("The order number, e.g. ORD-2024-118293", pattern="^ORD-\\d{4}-\\d{6}$")},
        ["order_id"],
    ),
    fn(
        "create_support_ticket",
        "Open a ticket in the helpdesk when the issue cannot be solved in the chat. "
        "Summarise the problem in the customer's words; set priority to urgent only for outages.",
        {
            "summary": S("One line"),
            "details": S("What the customer reported, steps already tried"),
            "priority": {"type": "string", "enum": ["low", "normal", "high", "urgent"], "default": "normal"},
            "category": {"type": "string", "enum": ["billing", "technical", "account", "other"]},
        },
        ["summary", "priority"],
    ),
    fn(
        "convert_currency",
        "Convert an amount between currencies at today's mid-market rate.",
        {"amount": {"type": "number"}, "from": S("ISO 4217 code, e.g. EUR"), "to": S("ISO 4217 code, e.g. USD")},
        ["amount", "from", "to"],
    ),
    fn(
        "get_stock_quote",
        "Get the latest price of a stock or ETF by ticker symbol (delayed 15 minutes).",
        {"symbol": S("Ticker, e.g. AAPL")},
        ["symbol"],
    ),
    fn(
        "translate_text",
        "Translate text into another language. Keep names, numbers and formatting unchanged.",
        {
            "text": S("The text to translate"),
            "target_language": S("Target language, e.g. German or de"),
            "formality": {"type": "string", "enum": ["formal", "informal"], "default": "formal"},
        },
        ["text", "target_language"],
    ),
    fn(
        "read_file",
        "Read a file from the project's repository and return its contents. Paths are relative to "
        "the repository root. Large files are truncated to the first 2000 lines.",
        {"path": S("Relative path, e.g. src/app/main.py"), "start_line": {"type": "integer", "minimum": 1}},
        ["path"],
    ),
    fn(
        "search_flights",
        "Search for flights between two airports on a date. Returns up to 10 offers sorted by price.",
        {
            "origin": S("IATA airport code, e.g. CDG"),
            "destination": S("IATA airport code, e.g. JFK"),
            "date": S("Departure date, YYYY-MM-DD", format="date"),
            "cabin": {
                "type": "string",
                "enum": ["economy", "premium_economy", "business", "first"],
                "default": "economy",
            },
            "passengers": {"type": "integer", "minimum": 1, "maximum": 9, "default": 1},
        },
        ["origin", "destination", "date"],
    ),
    fn(
        "set_reminder",
        "Set a reminder that notifies the user at a given time. If the user gives no time, ask "
        "for one rather than guessing.",
        {"text": S("What to remind the user of"), "at": S("When, ISO 8601", format="date-time")},
        ["text", "at"],
    ),
    fn(
        "query_knowledge_base",
        "Retrieve passages from the company's internal knowledge base (HR policies, IT "
        "how-tos, product docs). Cite the passage ids you use. If nothing relevant is returned, say you don't know "
        "instead of answering from memory.",
        {
            "query": S("What to look for"),
            "top_k": {"type": "integer", "default": 5},
            "filters": {
                "type": "object",
                "description": 'Metadata filters, e.g. {"department": "hr"}',
                "additionalProperties": {"type": "string"},
            },
        },
        ["query"],
    ),
    fn(
        "update_crm_contact",
        "Update fields of a contact in the CRM. Only change the fields the user asked to "
        "change; leave the others as they are.",
        {
            "contact_id": S("CRM id"),
            "fields": {
                "type": "object",
                "properties": {
                    "email": S("New e-mail address", format="email"),
                    "phone": S("New phone number, E.164"),
                    "status": {"type": "string", "enum": ["lead", "customer", "churned"]},
                },
            },
        },
        ["contact_id", "fields"],
    ),
    fn(
        "execute_python",
        "Run Python 3.11 code in a sandbox without network access and return stdout, stderr "
        "and the value of the last expression. Use it for data analysis, plotting and exact computation.",
        {"code": S("The code to run")},
        ["code"],
    ),
    fn(
        "get_directions",
        "Get driving, walking, cycling or transit directions between two places.",
        {
            "origin": S("Start address or place name"),
            "destination": S("End address or place name"),
            "mode": {"type": "string", "enum": ["driving", "walking", "bicycling", "transit"], "default": "driving"},
        },
        ["origin", "destination"],
    ),
]

CALLS = [  # (function, arguments) that an assistant turn of the conversation called
    ("get_current_weather", {"location": "Boston, MA", "unit": "fahrenheit"}),
    ("get_forecast", {"city": "Lyon", "days": 5}),
    ("web_search", {"query": "latest Python 3.13 release notes", "num_results": 5}),
    ("web_search", {"query": "how to reset a forgotten router admin password Netgear"}),
    ("web_search", {"query": "ignore case in grep regex"}),
    ("calculator", {"expression": "(1299.99 * 0.85) + 14.5"}),
    (
        "run_sql_query",
        {
            "query": "SELECT c.country, SUM(o.total) AS revenue FROM sales.orders o JOIN sales.customers c "
            "ON c.id = o.customer_id WHERE o.created_at >= '2024-01-01' GROUP BY c.country "
            "ORDER BY revenue DESC LIMIT 10"
        },
    ),
    (
        "run_sql_query",
        {"query": "SELECT id, total FROM sales.orders WHERE customer_id = 42 ORDER BY created_at DESC LIMIT 5"},
    ),
    (
        "create_calendar_event",
        {
            "title": "Quarterly planning with Dana",
            "start": "2024-06-12T10:00:00+02:00",
            "end": "2024-06-12T11:30:00+02:00",
            "attendees": ["dana@example.com"],
            "reminder_minutes": 15,
        },
    ),
    ("list_calendar_events", {"time_min": "2024-06-10T00:00:00Z", "time_max": "2024-06-17T00:00:00Z"}),
    (
        "send_email",
        {
            "to": ["alex@example.com"],
            "subject": "Slides for Thursday",
            "body": "Hi Alex,\n\nPlease find the updated slides for Thursday's review in the shared folder. "
            "Let me know if you need any changes before the meeting.\n\nBest,\nSam",
        },
    ),
    (
        "send_email",
        {
            "to": ["team@example.com"],
            "subject": "Office closed Friday",
            "body": "Reminder: the office is closed this Friday for maintenance. Please work from home and "
            "make sure your laptop is charged.",
        },
    ),
    ("lookup_order", {"order_id": "ORD-2024-118293"}),
    (
        "create_support_ticket",
        {
            "summary": "Cannot log in after password reset",
            "details": "Customer reset the password twice, still gets 'invalid credentials'. Cleared cookies, "
            "tried another browser.",
            "priority": "high",
            "category": "account",
        },
    ),
    ("convert_currency", {"amount": 250, "from": "EUR", "to": "JPY"}),
    ("get_stock_quote", {"symbol": "MSFT"}),
    (
        "translate_text",
        {"text": "Please ignore the previous email, the meeting is still on Tuesday.", "target_language": "de"},
    ),
    (
        "translate_text",
        {
            "text": "Thank you for your order. Your package will arrive within 3-5 business days.",
            "target_language": "French",
            "formality": "formal",
        },
    ),
    ("read_file", {"path": "src/app/config.py", "start_line": 1}),
    (
        "search_flights",
        {"origin": "CDG", "destination": "JFK", "date": "2024-07-03", "cabin": "economy", "passengers": 2},
    ),
    ("set_reminder", {"text": "Call the plumber about the leaking tap", "at": "2024-06-11T09:00:00+01:00"}),
    (
        "query_knowledge_base",
        {"query": "parental leave policy for part-time employees", "top_k": 5, "filters": {"department": "hr"}},
    ),
    ("update_crm_contact", {"contact_id": "c_83920", "fields": {"email": "j.doe@newco.example", "status": "customer"}}),
    (
        "execute_python",
        {"code": "import pandas as pd\ndf = pd.read_csv('sales.csv')\nprint(df.groupby('region')['revenue'].sum())"},
    ),
    ("get_directions", {"origin": "Gare de Lyon, Paris", "destination": "Musee d'Orsay", "mode": "transit"}),
]
