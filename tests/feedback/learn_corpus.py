"""A small corpus whose topics overlap (so a ranking has room to move), and pairs of questions
that say the same thing in other words, for the learning tests."""

from ragwright import TextRecord

DOCS = [
    TextRecord(
        id="leave-annual",
        title="Annual leave",
        text="Full-time employees get 25 days of paid annual leave per calendar year. Unused days carry over "
        "until March.",
    ),
    TextRecord(
        id="leave-parental",
        title="Parental leave",
        text="Parents get 16 weeks of paid parental leave after a birth or an adoption.",
    ),
    TextRecord(
        id="leave-sick",
        title="Sick leave",
        text="Sick leave needs a doctor's note from the third day of absence; pay continues for six weeks.",
    ),
    TextRecord(
        id="leave-unpaid",
        title="Unpaid leave",
        text="Unpaid leave of up to three months can be requested once every five years.",
    ),
    TextRecord(
        id="travel-meals",
        title="Meals while travelling",
        text="The daily meal allowance is 40 euros at home and 80 euros for international trips.",
    ),
    TextRecord(
        id="travel-hotels",
        title="Hotels",
        text="Hotel nights are reimbursed up to 150 euros; book through the travel desk.",
    ),
    TextRecord(
        id="travel-trains",
        title="Trains and flights",
        text="Trains are preferred for trips under five hours; flights need a manager's approval.",
    ),
    TextRecord(
        id="travel-claims",
        title="Expense claims",
        text="Submit expense claims with receipts within 30 days of the trip's end.",
    ),
    TextRecord(
        id="it-laptops",
        title="Laptops",
        text="Every employee receives a laptop, replaced every three years by the IT desk.",
    ),
    TextRecord(
        id="it-passwords",
        title="Passwords",
        text="Passwords must be 14 characters long and changed when a breach is suspected.",
    ),
    TextRecord(id="it-vpn", title="VPN", text="Connect through the VPN when working outside the office network."),
    TextRecord(
        id="it-phones",
        title="Phones",
        text="Company phones are given to staff on call; personal phones need the device manager app.",
    ),
    TextRecord(id="office-desks", title="Desks", text="Desks are shared and booked in the office app one week ahead."),
    TextRecord(
        id="office-remote",
        title="Remote work",
        text="Staff may work remotely three days a week; a home office allowance of 500 euros is paid once.",
    ),
    TextRecord(
        id="office-hours",
        title="Office hours",
        text="The office is open from 7 to 20 on weekdays; core hours are 10 to 15.",
    ),
]

# (a question, the same question as another user typed it)
PAIRS = [
    ("How many holidays do I get each year?", "how many holiday days do i get per year"),
    ("How much money do I get for food on a business trip?", "how much money for food on business trips"),
    ("Which laptop does the company give me?", "which laptop will the company give me"),
    ("Can I work from home?", "can i work from home sometimes?"),
    ("What do I do when I am ill?", "what should I do when I am ill"),
    ("How do I get reimbursed for travel costs?", "how do I get my travel costs reimbursed?"),
]
