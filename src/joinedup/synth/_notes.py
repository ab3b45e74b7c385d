"""Free-text contact notes for synthetic failure-demand data.

Every synthetic contact carries a note, written the way a contact-centre adviser or a
citizen would write it. The notes exist so that text classifiers can be trained and
tested on them. So the category must not be given away by one fixed keyword: the
categories share vocabulary ("payment", "letter", "again", "still"), category names
are rare, and some notes are ambiguous, as real ones are.

Design
------
* Each category has two pools of templates: an adviser's summary (used for ``phone``
  and ``face_to_face`` contacts) and the citizen's own words (``web``, ``email``,
  ``webchat`` and ``letter``). ``template_count`` counts both pools.
* Templates use ``str.format`` fields. Fields fill from the :class:`NoteContext`
  (``{org}``, ``{service}``, ``{thing}``, ...), from values derived from it
  (``{svc}`` abbreviates the service, ``{wait}`` turns ``days`` into "three weeks",
  ``{life3}`` puts the life event in the third person) or from small internal slot
  lists (time phrases, feelings, adviser actions). Slot entries may hold fields of
  their own. A field whose name starts with a capital capitalises its value.
* Everything is compiled once at import into ``(format string, slot functions)``
  pairs, so a call is one template pick, a handful of slot calls and one
  ``str.format``: no regex and no table building in the hot path.
* Channels add an optional opener and closer ("Dear Sir or Madam, ", " NFA.").
* A minority of notes (:data:`TYPO_RATE`) get one cheap typo: a lowercase start, a
  missing apostrophe, or a dropped, doubled or swapped letter.
* Only the ``rng`` passed in is used, so a seeded generator gives the same notes.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from string import Formatter
from typing import Final, NamedTuple

__all__ = [
    "ADVISER_CHANNELS",
    "CATEGORIES",
    "SERVICE_ABBREVIATIONS",
    "THING_ABBREVIATIONS",
    "TYPO_RATE",
    "NoteContext",
    "RenderedNote",
    "render_note",
    "render_note_with_meta",
    "template_count",
]

CATEGORIES: tuple[str, ...] = (
    "service",
    "info",
    "change",
    "help",
    "chase",
    "error",
    "clarify",
    "repeat",
    "misrouted",
    "duplicate",
    "complaint",
)

#: Channels whose notes are written by an adviser; all others are in the citizen's words.
ADVISER_CHANNELS: frozenset[str] = frozenset({"phone", "face_to_face"})

#: Share of notes that get one typo.
TYPO_RATE: Final[float] = 0.08

#: Contact-centre shorthand for services, keyed by lowercased service name.
SERVICE_ABBREVIATIONS: dict[str, str] = {
    "universal credit": "UC",
    "council tax reduction": "CTR",
    "council tax support": "CTS",
    "housing benefit": "HB",
    "personal independence payment": "PIP",
    "employment and support allowance": "ESA",
    "jobseeker's allowance": "JSA",
    "pension credit": "PC",
    "child benefit": "ChB",
    "tax credits": "TC",
    "working tax credit": "WTC",
    "child tax credit": "CTC",
    "self assessment": "SA",
    "carer's allowance": "CA",
    "attendance allowance": "AA",
    "discretionary housing payment": "DHP",
    "state pension": "SP",
    "disabled facilities grant": "DFG",
    "council tax": "CTax",
    "gp registration": "GP reg",
    "paye tax code": "tax code",
    "bereavement support payment": "BSP",
    "adult social care": "ASC",
    "homelessness prevention": "HP",
}

#: Contact-centre shorthand for the thing a need is about.
THING_ABBREVIATIONS: dict[str, str] = {
    "payment": "pymt",
    "appointment": "appt",
    "application": "app",
    "information": "info",
    "overpayment": "o/p",
    "reconsideration": "MR",
    "prescription": "script",
    "registration": "reg",
    "assessment": "assmt",
}


class NoteContext(NamedTuple):
    """What a note is about; each field can fill a slot in a template.

    A named tuple rather than a frozen dataclass: as immutable, and made several times
    faster, which counts at one per contact, tens of millions of them."""

    org: str
    service: str
    thing: str
    other_org: str
    life_event: str
    days: int
    amount: int
    channel: str


@dataclass(frozen=True, slots=True)
class RenderedNote:
    """A note plus how it was made, for tests and diagnostics."""

    text: str
    category: str
    template_id: int  # 0..template_count(category)-1; adviser templates come first
    voice: str  # "adviser" or "citizen"
    typo: bool


# ---------------------------------------------------------------------------
# Templates: (adviser voice, citizen voice) per category.
# ---------------------------------------------------------------------------

_TEMPLATES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "service": (
        (
            "{Cust} {rang} to make a new {svc} claim. {claim_done}",
            "{Cust} wants to apply for {svc}. {claim_done}",
            "Pymt of {amt} taken by card for {svc}. Receipt {sent}.",
            "Booked {svc} appt for {cust} {daywhen}. Confirmation {sent}.",
            "{Cust} {rang} to pay {amt} on {svc} account, set up DD from next month.",
            "New {svc} claim. {idv}.",
            "Took {svc} application, all details {captured}. {Cust} aware of timescales.",
            "{Cust} {rang} to register for {svc}. Registered,{opt_ref}",
            "Card pymt {amt}, {svc}.",
            "{Svc} appt booked.",
            "{Cust} renewing {svc}. Renewal done, no changes.",
            "{Cust} {life3} and wants to claim {svc}. Eligibility check done, claim started.",
            "Applied for {svc} on {cust}'s behalf, {docs_follow}.",
            "{Cust} booking {thg} {daywhen}. Slot confirmed.",
            "{Svc} claim made over the phone w/ {cust}. {idv}, bank details taken and "
            "{cust} told to expect a letter within {wk2}. {Cust} to upload payslips.",
        ),
        (
            "I'd like to apply for {service}. {c_apply}",
            "Can I book an appointment about {service} please? {c_avail}",
            "I want to pay {amt} towards my {service}.",
            "Applying for {service} as I {life_event}.",
            "Here is my application for {service}. {c_enclosed}",
            "I'd like to make a claim for {service}. I {life_event} {when} and money is tight.",
            "Paying {amt} for {service}, reference number below.",
            "I've just {life_event} and I want to start a claim.",
            "Registering for {service}. My details are below.",
            "Please set up a direct debit for my {service}, {amt} a month.",
            "I need to renew my {service} before it runs out.",
            "Please book me in for my {thing}. {c_avail}",
            "Hello, I would like to apply for {service} for the first time. I {life_event} "
            "{when} and a friend said I might qualify. I have filled in the online form and "
            "uploaded my payslips.",
        ),
    ),
    "info": (
        (
            "{Cust} asking whether they can get {svc} after they {life3}. Adv {elig}.",
            "Gen enquiry re {svc}. Info given.",
            "{Cust} wanted to know how {svc} works. Explained {explain_what}.",
            "{Cust} asked about opening hours for {orgab} office. Gave hours and {alt}.",
            "Enquiry: how much {svc} {cust} might get. Gave rough guide, approx {amt}.",
            "{Cust} {rang} for advice, {life3}, unsure what help is out there. "
            "Signposted to {svc} and {signpost}.",
            "{Cust} asked if {svc} affects {other_benefit}. {Answer}.",
            "Q re deadline for {svc}. Adv {deadline}.",
            "First contact. {Cust} asking what {svc} is and who qualifies.",
            "{Cust} asking what evidence is needed for {svc}. Gave list.",
            "Info only re {svc}.",
            "{Cust} enquiring about {svc} for a family member. Adv we need consent first.",
            "{Cust} {life3} recently and has never claimed before. Went through {svc} "
            "basics, what counts as income and how long a claim usually takes. {Cust} "
            "will think about it and apply online.",
        ),
        (
            "Can I get {service} if I {life_event}?",
            "How long does {service} usually take?",
            "What's the best way to contact {org} about {service}?",
            "Quick question. Do I qualify for {service}? I {c_situation}.",
            "I'm thinking of applying for {service} and wanted some advice first.",
            "What documents will I need for {service}?",
            "Is there any help with {help_topic}? I {life_event} and don't know where to start.",
            "Does {service} count as income for {other_benefit}?",
            "I've never dealt with {org} before. Where do I start with {service}?",
            "What are your opening times?",
            "Could you tell me how {service} is worked out?{c_extra}",
            "I {life_event} recently. Is there any support from {org}?",
            "Who can I speak to about {service}?",
        ),
    ),
    "change": (
        (
            "{Cust} reporting change of address, {life3}. Updated {sys}.",
            "CoC: {cust} {life3}. {Coc_act}.",
            "{Cust} {rang} to say they have started a new job, earnings approx {amt} pcm. "
            "{Coc_act}.",
            "New issue reported: {new_problem}. {Raised}.",
            "{Cust}'s partner has moved in, household details changed. {Coc_act}.",
            "Reported change in hours, now working {hours} hrs pw.",
            "{Cust} {life3}, wants {svc} updated. {Coc_act}.",
            "Change of bank details for {svc} pymts. Security checks passed, updated.",
            "{Cust} letting us know they {life3}. {Coc_act}.",
            "Change of circs re {svc}: income gone up by approx {amt}. Adv may affect amount.",
            "{Cust} reporting {new_problem}.",
            "Update to contact details, new tel no. and email added.",
            "CoA done.",
            "{Cust} {rang} to report they {life3} {when}. {Coc_act}. Adv {svc} award will be "
            "looked at again and a new letter will follow, may take {wk2}.",
        ),
        (
            "I need to tell you that I {life_event}. {c_next}",
            "I've moved. My new address is below.",
            "Just to let you know I've started a new job, so my {service} will need changing.",
            "I want to report {new_problem} at my home.",
            "My bank details have changed, please pay my {service} into my new account.",
            "Reporting a change: I {life_event} {when}.",
            "My partner has moved in with me. How does that affect my {service}?",
            "My hours at work have changed and I now earn about {amt} a month.",
            "New problem: {new_problem}, started {when}.",
            "Please update my phone number and email.",
            "Change of address.",
            "I {life_event}, so things are different now. Please update my {service}.",
            "Can you update your records? I {life_event}.",
            "There is {new_problem} and it's getting worse. Can someone come and look?",
        ),
    ),
    "help": (
        (
            "{Cust} at risk of homelessness, {homeless_reason}. Referred to housing options, "
            "{help_act}.",
            "{Cust} sleeping in car, {help_act}.",
            "Homeless tonight, needs help.",
            "Ongoing support case. {Cust} {rang} re care for {relative}, {help_act}.",
            "Complex case: {cust} {life3}, struggling w/ rent and bills. {Help_act}.",
            "{Cust} has MH issues and needs help managing {svc}. {Help_act}.",
            "Safeguarding concern raised re {cust}, passed to {team}.",
            "Carer {rang} for support, not coping. {Help_act}.",
            "Housing register support, {cust} in temp accom w/ {kids}.",
            "Needs help w/ {svc} claim due to {barrier}. {Help_act}.",
            "{Cust} discharged from hospital, needs adaptations at home. {Help_act}.",
            "Money worries, arrears approx {amt}. {Help_act}.",
            "Cont'd support. {Cust} {rang} for help w/ {thg}, {help_act}.",
            "{Cust} {life3} and is now {homeless_reason}. Lives w/ {kids}, no family nearby. "
            "Long conversation about options. {Help_act} and agreed to keep in touch weekly.",
        ),
        (
            "I'm about to be homeless. {C_homeless} and I have nowhere to go.",
            "I look after my {relative} and I can't cope any more. What help is there?",
            "My landlord has given me notice and I don't know what to do.",
            "I need help with housing. I {life_event} and I'm {feel}.",
            "We are living in one room with {kids} and it isn't working.",
            "I've got {amt} of debt and I'm behind on rent. I need someone to help me sort it.",
            "My {relative} needs more care at home than I can give.",
            "I have {condition} and need help filling in my {service} forms.",
            "Can someone come out and see me? I can't manage on my own since I {life_event}.",
            "Sofa surfing at a friend's, need help finding somewhere to live.",
            "I was told to get in touch about extra support. I'm {feel} and don't know where "
            "else to turn.",
            "Please help, my {relative} has come out of hospital and there's no care in place.",
            "I {life_event} {when} and everything has fallen apart. I'm behind with rent, "
            "I've got {kids} to look after and I'm {feel}. I don't know who else to ask.",
        ),
    ),
    "chase": (
        (
            "{Cust} {rang} {chasev} {svc} {thg}, waiting {wk}. {Adv_chase}.",
            "{Cust} {chasev} {thg}, not recd after {wk}. {Adv_chase}.",
            "{Cust} asking where pymt is, expected {amt} {when}, nothing in acct.",
            "Promised cb {when} never happened. {Cust} {rang} again for update.",
            "No decision yet on {svc}, applied {wk} ago. {Adv_chase}.",
            "Repair still outstanding, reported {wk} ago. {Adv_chase}.",
            "{Cust} wants update, {thg} overdue. {Adv_chase}.",
            "Status check re {svc}. Still with {team}.",
            "{Cust} says {thg} was due {when}, still waiting. {Adv_chase}.",
            "Chasing {thg}.",
            "2nd call re {thg}, {cust} still has no update. Escalated to TL.",
            "{Cust} {rang} to see if {svc} refund processed yet, was told {wk2} last time.",
            "{Cust} {chasev} {svc} {thg}. Applied {wk} ago and was told it would take "
            "{wk2}. No letter, no pymt, no cb. {Adv_chase}.",
        ),
        (
            "I've been waiting {wait} for my {thing} and still nothing.",
            "Where is my {service} payment? It should have been in my account {when}.",
            "I was promised a {callback} {when} and nobody rang.",
            "Any update on my {service}? I applied {wait} ago.",
            "Still no {thing}. Can someone tell me what's happening?",
            "Still waiting for my {thing}.",
            "It's been {wait} since I reported the problem and no one has come out.",
            "I'm writing again to ask about my {thing}.{c_money}",
            "You said it would be sorted within {days} days. That was {wait} ago.",
            "How much longer for my {service} decision?",
            "Just checking where things are up to with my {thing}.",
            "Has my {thing} been sent yet? I'm still waiting and {feel}.",
            "I was told I'd get {amt} back {when}, it hasn't arrived.",
            "I applied for {service} {wait} ago and I still haven't heard anything. "
            "I've got no money coming in and {c_money_long}. Please can someone tell me "
            "when I'll get a decision?",
        ),
    ),
    "error": (
        (
            "{Cust} says {svc} {miscalc}, {err_effect}. {Fix_act}.",
            "Overpayment of {amt} raised in error, {cust} reported change on time. {Fix_act}.",
            "Letter went to old address despite CoA {wk} ago. {Fix_act}.",
            "Underpaid: {cust} got {amt} less than award. {Fix_act}.",
            "Sanction applied in error, {cust} did attend appt. {Fix_act}.",
            "{Cust} {rang} as {svc} stopped for no reason. Our error, {fix_act}.",
            "Name spelt wrong on {thg}. Corrected.",
            "Wrong address on {thg}.",
            "Incorrect decision on {svc}, {evidence} not taken into account. {Fix_act}.",
            "{Cust} charged twice, {amt} taken x2. {Fix_act}.",
            "DOB incorrect on record. {Fix_act}.",
            "Pymt sent to {cust}'s old bank account in error. {Fix_act}.",
            "{Cust} says {thg} info incorrect, we had their income wrong. {Fix_act}.",
            "{Cust} on wrong tax code since {when}, paying too much. {Fix_act}.",
            "{Cust} {rang} re letter saying they owe {amt}. Checked notes, {cust} reported "
            "the change {wk} ago and it was never actioned. Our mistake. {Fix_act}.",
        ),
        (
            "You've got my {service} wrong. {C_err_detail}",
            "I've had a letter saying I owe {amt} but I told you about my change straight away.",
            "My {thing} went to my old address even though I updated it {wait} ago.",
            "The amount is wrong. I should have got {amt} and I got a lot less.",
            "I've been sanctioned but I did go to my appointment. I can prove it.",
            "Your letter has my name spelt wrong.",
            "You've taken {amt} from my account twice.",
            "My {service} has stopped and I haven't changed anything.",
            "I think there's been a mistake with my {thing}. {C_err_detail}",
            "The decision ignores the evidence I sent. Please correct it.",
            "You have me down as living with someone but I live alone.",
            "{Other_org} told me {org} made an error on my {service}. Can you put it right?",
            "Wrong date of birth on my account.",
            "I've been put on the wrong tax code and I'm paying too much.",
            "Your letter says I was paid {amt} too much, but I reported my new job the week I "
            "started. I have the confirmation email. Please look at this again, because I "
            "can't afford to pay back money that was your mistake.",
        ),
    ),
    "clarify": (
        (
            "{Cust} didn't understand letter re {svc}, {explain}.",
            "{Cust} confused by {thg} letter, thought it meant {misread}. Explained.",
            "Query re question {qnum} on form, {cust} unsure what to put. Adv.",
            "{Cust} couldn't follow online {svc} page. Talked through it.",
            "Decision letter not clear to {cust}, explained how {amt} figure was worked out.",
            "{Cust} asking what '{jargon}' means on statement.",
            "{Cust} got two letters w/ different amounts, didn't know which is right. Explained.",
            "{Cust} {rang} as letter says {letter_says} but not what to do next.",
            "Explained {jargon} to {cust}.",
            "{Cust} unclear which box to tick on {svc} form.",
            "Wording on {thg} confusing, {cust} thought they had to pay {amt}. They don't.",
            "{Cust} not sure if {thg} letter needs a reply. Confirmed no action.",
            "{Cust} {rang} w/ {svc} letter in hand. Read it together, {explain}. {Cust} "
            "thought it meant {misread}, reassured it doesn't. Adv to keep letter safe.",
        ),
        (
            "I got a {paper} about my {service} and I don't understand what it means.",
            "What does '{jargon}' mean? It's in the {paper} you sent.",
            "Your letter says {letter_says} but doesn't say what I have to do.",
            "I don't understand question {qnum} on the form.",
            "The website says one thing and the letter says another. Which is right?",
            "Do I need to do anything about this {thing}?{c_confused}",
            "Can someone explain the decision? I don't follow how you got to {amt}.",
            "The online form asks about my {field} and I'm not sure what to put.",
            "I'm confused by the {paper}. Does this mean my {service} has stopped?",
            "Your page on {service} is really hard to follow.",
            "What is this {paper} asking me for?",
            "What does this mean?",
            "I've read it several times and I still don't know if I owe anything.",
            "I had a letter {when} about {service}. It mentions '{jargon}' and a figure of "
            "{amt} but it doesn't say if that's what I get or what I owe. Could someone "
            "explain it in plain English?",
        ),
    ),
    "repeat": (
        (
            "Same issue as call {when}, {thg} still not sorted. {Rep_act}.",
            "{Cust} {rang} again re {svc}, {nth} contact on this.",
            "Repeat contact. Told to ring back once {team} had looked at it, nothing changed.",
            "{Cust} was told {when} it would be fixed, {still}.",
            "As per previous notes, {cust} still has same problem w/ {thg}.",
            "Prev call {when}, adv to ring back in {days} days. {Cust} ringing back as told. "
            "{Rep_act}.",
            "Same query again. {Rep_act}.",
            "{Cust} had to explain whole situation again, {thg} issue open since {wk} ago.",
            "Issue not resolved from last contact. {Rep_act}.",
            "See prev notes. {Cust} again.",
            "Same problem, {thg}.",
            "{Cust} back in touch re {svc}, earlier advice didn't resolve it. {Rep_act}.",
            "Returning {cust}, {thg} problem ongoing. {Rep_act}.",
            "{Nth} time {cust} has been in touch about the same {thg}. Each time told it will "
            "be looked at, each time nothing. {Rep_act} and noted the history on the case.",
        ),
        (
            "This is the {ordinal} time I've contacted you about the same thing.",
            "I rang {when} about my {thing} and it's still not sorted.",
            "Same problem as before.{c_repeat}",
            "Same issue again.",
            "I was told to get back in touch, so here I am. Nothing has changed.",
            "I explained all this last week. Do I have to go through it again?",
            "Still the same issue with my {service}. I've told you about this already.",
            "I contacted you {wait} ago about this and nothing has happened.",
            "Once again, my {thing} isn't sorted.",
            "You said it was fixed but it isn't.",
            "Writing again about the {thing} problem I reported {when}.",
            "The problem I reported before has come back.",
            "I keep being told it'll be sorted and it never is.",
            "I've now been in touch {ntimes} times about my {service}. Every time I'm told "
            "someone will look into it and every time I end up back here telling the same "
            "story. Please can one person deal with this?",
        ),
    ),
    "misrouted": (
        (
            "{Cust} told by {other_org} to contact us re {svc}, not our area. Adv to go back "
            "to {otherab}.",
            "{Cust} sent here by {other_org}, who said {orgab} deals with it. {Mis_act}.",
            "Xfer'd from {team}, wrong dept. {Mis_act}.",
            "{Cust} passed between {team} and {team2} for {wk}. {Mis_act}.",
            "Wrong number, {cust} needed {other_org}. Gave tel no.",
            "Wrong dept, transferred.",
            "{Cust} rang {svc} line but query is for {team}. Transferred.",
            "{Cust} going round in circles, {otherab} said call us, we said them.",
            "Not for us: {cust}'s query is for {other_org}. Signposted.",
            "Email came to wrong inbox, forwarded to {team}.",
            "{Cust} told online form was wrong route, needs to call. {Mis_act}.",
            "Third transfer for this {cust}. {Mis_act}.",
            "{Cust} went to {orgab} office but service has moved. Adv correct location.",
            "{Cust} first rang {other_org} about {thg}, was told to ring us. We can't action "
            "it, so {cust} has been told to go back to {otherab}. {Mis_act} to save a 3rd call.",
        ),
        (
            "{Other_org} told me to contact you about my {service}. Is that right?",
            "I've been passed from one department to another and nobody can help.",
            "I rang {other_org} and they said it's {org} I need to speak to.",
            "Who do I actually talk to about my {thing}? I'm going round in circles.",
            "I was transferred {ntimes} times and then cut off.",
            "The website told me to ring, the phone line told me to use the website.",
            "{Other_org} sent me back to you. You sent me to them. Please sort it out between you.",
            "I think I've been given the wrong number. I need {service}.",
            "Is this the right place for my {thing}? {Other_org} said to email here.",
            "Nobody seems to know which team deals with my {service}.",
            "The front desk told me to phone and the phone line told me to come in.",
            "Sent here from {other_org}.",
            "I spoke to {other_org} {when} about my {thing}. They said it wasn't them and gave "
            "me your number. Your automated line then sent me back to them. Can somebody "
            "please tell me who is actually responsible?",
        ),
    ),
    "duplicate": (
        (
            "{Cust} asked to send {doc} again, already provided {when}. {Dup_act}.",
            "Request for {doc} but copy already on file. {Dup_act}.",
            "{Cust} already gave {doc} to {other_org}, asked why we need it too. {Dup_act}.",
            "ID docs re-sent, 2nd time asked.",
            "{Cust} had to repeat NI no. and bank details we already hold.",
            "Letter went out asking for {doc} {cust} uploaded {wk} ago. {Dup_act}.",
            "{Cust} filled in same form twice, first one on file. {Dup_act}.",
            "Evidence request, but {doc} scanned {when}. {Dup_act}.",
            "{Cust} asking why {orgab} can't get {doc} from {otherab}. {Dup_act}.",
            "{Cust} frustrated at giving same info to {team} and {team2}.",
            "Asked for proof of {proof} again.",
            "Docs already held.",
            "{Cust} sent {doc} by post and online, now asked again. {Dup_act}.",
            "{Cust} {rang} upset after 2nd letter asking for {doc}. Already sent them {when} "
            "and {other_org} has them too. Checked sys, docs are there but not linked. "
            "{Dup_act}.",
        ),
        (
            "You've asked me for my {doc} again. I sent everything {when}.",
            "Why do I have to send my {doc} to {org} when {other_org} already has them?",
            "I've already given you this information. Why are you asking for it again?",
            "This is the {ordinal} time I've been asked for proof of {proof}.",
            "I uploaded my {doc} {wait} ago and now I've got a letter asking for them.",
            "Do I really need to fill in the whole form again? Nothing has changed.",
            "Surely you can get my details from {other_org}?",
            "Another letter asking for my {doc}. You already have them.",
            "I gave all my details over the phone and now I'm asked to write them down.",
            "Sent my {doc} twice already.",
            "Please check your records before asking me for my {doc} again.",
            "Every time I contact you I have to give my NI number and details all over again.",
            "I gave {other_org} my {doc} {when} and was told the information would be shared. "
            "Now {org} wants the same thing from me. I don't have copies any more and "
            "getting them again will cost me money.",
        ),
    ),
    "complaint": (
        (
            "{Cust} wants to make a formal complaint re delays on {svc}. {Comp_act}.",
            "Complaint: {cust} unhappy w/ attitude of adviser on {prev_call} call.",
            "{Cust} unhappy about being passed around between {team} and {otherab}. {Comp_act}.",
            "Stage 1 logged re {thg}. {Comp_act}.",
            "{Cust} v unhappy, {thg} {wk} late, wants to complain. {Comp_act}.",
            "{Cust} wants compensation for {amt} costs caused by our error. {Comp_act}.",
            "Escalating to stage 2, {cust} not happy w/ response.",
            "{Cust} says staff member was rude at {place}.",
            "Complaint re handling of {svc} claim, {cust} to put it in writing.",
            "{Cust} {rang} again and again, says enough is enough. {Comp_act}.",
            "{Cust} contacting their MP re {svc}. {Comp_act}.",
            "Dissatisfied w/ outcome, requested manager cb.",
            "Complaint re {svc}.",
            "{Cust} very upset. Says {svc} has been mishandled from the start: {wk} of "
            "delays, wrong letters and no cb when promised. {Comp_act}. Apologised on "
            "behalf of {orgab}.",
        ),
        (
            "I'd like to make a formal complaint about how long my {service} has taken.",
            "I'm complaining about the way I was spoken to {when}.",
            "I have been passed around for {wait} and I want to complain.",
            "This is a complaint. {C_complaint}",
            "I'm not happy with the service from {org} and I want this escalated.",
            "Please pass this to your complaints department. {C_complaint}",
            "I expect compensation for the {amt} your error cost me.",
            "The member of staff I saw was rude and dismissive.",
            "Your handling of my {thing} has been appalling.",
            "I'm not happy with your reply to my complaint and want to take it further.",
            "I'll be contacting my MP about this.",
            "I want to complain.",
            "Every time I call I have to explain again and nothing happens. I want to complain.",
            "I wish to complain. I {life_event} {when} and asked for help with {service}. "
            "Since then I have had {wait} of delays, letters that contradict each other and "
            "call backs that never came. I expect a written reply.",
        ),
    ),
}

# ---------------------------------------------------------------------------
# Internal slot lists. Entries may contain fields; lists used at the start of a
# sentence are written capitalised, lists used mid-sentence are lowercase.
# Lists named opt_* or c_* ending a template carry their own leading space.
# ---------------------------------------------------------------------------

_LISTS: dict[str, tuple[str, ...]] = {
    "when": (
        "yesterday",
        "last week",
        "on Monday",
        "on Friday",
        "this morning",
        "a couple of weeks ago",
        "last month",
        "the other day",
        "on Tuesday",
        "earlier this week",
    ),
    "prev_call": ("previous", "yesterday's", "last week's", "Monday's", "this morning's"),
    "feel": (
        "really worried",
        "stressed",
        "at my wits' end",
        "fed up",
        "anxious",
        "confused",
        "upset",
        "struggling",
        "getting desperate",
        "frustrated",
    ),
    "callback": ("call back", "callback", "phone call", "call from a manager", "ring back"),
    "sent": ("sent by email", "sent by text", "posted", "emailed", "to follow by post"),
    "daywhen": (
        "for next Tues",
        "on the 14th",
        "for w/c Monday",
        "next week",
        "for Thurs am",
        "for Fri pm",
        "tomorrow 10am",
    ),
    "claim_done": (
        "Claim started, {cust} to finish online.",
        "Took details and submitted.",
        "Booked phone claim for {daywhen}.",
        "Adv on evidence needed.",
        "Claim form posted.",
        "Started claim, {cust} to bring ID to appt.",
        "Adv to apply online, gave link.",
    ),
    "idv": (
        "ID verified",
        "IDV passed",
        "NI no. checked",
        "ID confirmed via security questions",
        "Security checks done",
    ),
    "captured": ("captured", "taken", "entered on sys", "recorded"),
    "opt_ref": (" ref given.", " ref {refno}.", " confirmation sent.", " all done."),
    "docs_follow": (
        "docs to follow by post",
        "{cust} to upload payslips",
        "evidence to follow",
        "ID seen at desk",
    ),
    "c_apply": (
        "I've filled in the form online.",
        "Please send me the form.",
        "My details are attached.",
        "I {life_event} {when}.",
        "I think I'm eligible.",
    ),
    "c_avail": (
        "Mornings are best for me.",
        "Any day except Wednesday.",
        "As soon as you can.",
        "I'm free most afternoons.",
        "I work until 5 so late afternoon is best.",
    ),
    "c_enclosed": (
        "I have enclosed the form.",
        "The form is attached.",
        "Everything you asked for should be included.",
        "Copies of my payslips are attached.",
    ),
    "elig": (
        "on eligibility criteria",
        "to use the online checker",
        "likely eligible, explained how to apply",
        "depends on savings, sent factsheet",
        "may be entitled, gave claim line number",
    ),
    "explain_what": (
        "the basics",
        "how payments are worked out",
        "the assessment process",
        "what happens after applying",
        "how long it usually takes",
    ),
    "alt": ("online options", "the web address", "out of hours number", "the email address"),
    "signpost": (
        "Citizens Advice",
        "the local food bank",
        "{other_org}",
        "a benefits calculator",
        "the council's welfare team",
    ),
    "other_benefit": (
        "their pension",
        "Child Benefit",
        "tax credits",
        "their rent",
        "their partner's income",
        "working hours",
    ),
    "Answer": (
        "Adv it does",
        "Adv it doesn't",
        "Adv it depends on circs",
        "Explained how the two interact",
        "Adv to check w/ {otherab}",
    ),
    "deadline": (
        "within a month",
        "must apply by end of tax year",
        "no deadline but apply asap",
        "claim can be backdated 1 month",
    ),
    "c_situation": (
        "work part time",
        "am a carer for my mum",
        "rent privately",
        "live on my own",
        "am self-employed",
        "have some savings",
    ),
    "help_topic": (
        "bills",
        "rent",
        "childcare costs",
        "travel to appointments",
        "council tax",
        "prescriptions",
    ),
    "c_extra": (
        "",
        " I'd like to understand before I apply.",
        " A friend said it depends on savings.",
        " I can't find it on the website.",
    ),
    "sys": ("system", "records", "account", "all records", "CRM"),
    "Coc_act": (
        "Details updated",
        "Recorded, award will be reviewed",
        "{Cust} to upload proof",
        "Passed to processing",
        "Updated on sys",
        "Noted, new letter to follow",
    ),
    "new_problem": (
        "damp in the bathroom",
        "a boiler that isn't working",
        "a missed bin collection",
        "a streetlight out",
        "a broken window",
        "a pothole outside the house",
        "a leak under the sink",
        "mould in the bedroom",
    ),
    "Raised": ("Job raised", "Logged", "Raised w/ repairs", "Ref {refno} given", "Job booked"),
    "hours": ("16", "20", "25", "30", "35", "12"),
    "c_next": (
        "What do I need to do?",
        "Please update my {service}.",
        "Does this change anything?",
        "I wasn't sure who to tell.",
    ),
    "homeless_reason": (
        "s21 notice served",
        "asked to leave by family",
        "fleeing DA",
        "sofa surfing",
        "in rent arrears",
        "landlord selling",
    ),
    "C_homeless": (
        "My landlord is selling",
        "My family have asked me to leave",
        "I've been served a section 21",
        "My relationship has broken down",
        "I can't keep up with the rent",
    ),
    "help_act": (
        "referred to {team}",
        "booked needs assessment",
        "made referral to {other_org}",
        "arranged home visit",
        "signposted to Citizens Advice for debt advice",
        "put in for DHP",
        "agreed weekly check-in",
        "gave food bank voucher",
        "case opened w/ support worker",
        "adv on emergency accommodation",
        "completed {svc} application with them",
    ),
    "relative": ("mum", "dad", "husband", "son", "wife", "daughter", "nan"),
    "kids": ("2 children", "3 kids", "a baby", "a toddler", "4 children", "a teenage son"),
    "barrier": (
        "no internet access",
        "limited English",
        "learning disability",
        "sight loss",
        "dyslexia",
        "poor mental health",
    ),
    "condition": (
        "anxiety",
        "depression",
        "a learning disability",
        "poor eyesight",
        "MS",
        "arthritis in my hands",
    ),
    "chasev": (
        "chasing",
        "following up on",
        "checking progress of",
        "asking about",
        "wanting update on",
        "querying status of",
    ),
    "Adv_chase": (
        "Adv still in queue, allow {wk2}",
        "Checked sys, with {team}, no timescale",
        "Pymt issued, allow 3 working days",
        "Sent chaser to {team}",
        "Adv to wait for letter",
        "Emailed {team} for update",
        "Nothing on sys, escalated",
        "Adv it's being looked at",
        "Apologised, no update available",
        "Flagged as urgent",
    ),
    "c_money": (
        "",
        " I have bills to pay.",
        " My rent is due next week.",
        " I can't keep waiting.",
        " This is the third time.",
    ),
    "c_money_long": (
        "my rent is due",
        "I've had to borrow from family",
        "I've been using a food bank",
        "the bills keep coming",
    ),
    "miscalc": ("worked out wrong", "miscalculated", "calculated incorrectly", "not right"),
    "err_effect": (
        "underpaid for {wk}",
        "paying too much",
        "amount doesn't match award letter",
        "has been charged for a property they left",
        "lost approx {amt}",
    ),
    "Fix_act": (
        "Corrected on sys",
        "Raised for reconsideration",
        "Refund requested",
        "Amended and apologised",
        "Sent to {team} to correct",
        "MR raised",
        "Arrears to be paid",
        "Recovery suspended pending review",
        "Put right, new letter to follow",
        "Amended, {cust} to get corrected letter",
    ),
    "fix_act": (
        "corrected on sys",
        "reinstated",
        "arrears to be paid",
        "sent to {team} to correct",
        "apologised and put right",
    ),
    "evidence": ("fit note", "medical evidence", "payslips", "tenancy agreement", "GP letter"),
    "C_err_detail": (
        "The figures don't add up.",
        "You've used my old income.",
        "You've got the wrong address.",
        "It says I have savings but I don't.",
        "It's nothing like what I was told.",
    ),
    "explain": (
        "went through it line by line",
        "explained what it means",
        "explained it's just info, no action needed",
        "clarified the figures",
        "explained what the letter is asking for",
    ),
    "misread": (
        "claim stopped",
        "they owe money",
        "they have to reapply",
        "appt cancelled",
        "they'd been sanctioned",
    ),
    "qnum": ("7", "12", "3b", "14", "22", "9"),
    "jargon": (
        "assessment period",
        "capital limit",
        "non-dependant deduction",
        "liability order",
        "PAYE coding notice",
        "mandatory reconsideration",
        "tapered reduction",
        "claimant commitment",
        "referral to treatment",
        "notice of entitlement",
    ),
    "letter_says": (
        "'action required'",
        "'your claim has closed'",
        "'we need more information'",
        "'overpayment'",
        "'no entitlement'",
        "'review due'",
    ),
    "c_confused": (
        "",
        " It's very unclear.",
        " I've read it three times.",
        " My neighbour couldn't make sense of it either.",
    ),
    "paper": ("letter", "notice", "statement", "letter", "email", "bill"),
    "field": ("household", "capital", "income", "housing costs", "dependants", "partner"),
    "Rep_act": (
        "Re-raised with {team}",
        "Adv to call back in {wk2}",
        "Sent another request to {team}",
        "Escalated to TL",
        "Logged again",
        "Told {cust} we'd call back",
        "Same advice given",
        "Added notes to existing case",
    ),
    "nth": ("3rd", "4th", "2nd", "5th"),
    "Nth": ("3rd", "4th", "5th", "6th"),
    "ordinal": ("third", "fourth", "fifth", "second"),
    "ntimes": ("three", "four", "five", "six"),
    "still": ("still not fixed", "no change", "same problem", "nothing done"),
    "c_repeat": (
        "",
        " Nothing has been done.",
        " It's not been fixed.",
        " I'm getting nowhere.",
        " I was told it would be sorted by now.",
    ),
    "team": (
        "the benefits team",
        "revenues",
        "the housing team",
        "the debt team",
        "customer services",
        "the payments team",
        "another team",
        "the processing centre",
        "reception",
        "the appointments line",
    ),
    "team2": (
        "the service centre",
        "the admin team",
        "the review team",
        "the back office",
        "the specialist team",
    ),
    "Mis_act": (
        "Gave correct contact details",
        "Warm transferred to {team}",
        "Passed to correct team",
        "Signposted to {other_org}",
        "Emailed {team} to pick up",
        "Took details and referred on",
        "Apologised, adv correct route",
    ),
    "doc": (
        "payslips",
        "bank statements",
        "ID documents",
        "tenancy agreement",
        "birth certificate",
        "proof of address",
        "P60",
        "fit notes",
        "medical evidence",
        "utility bills",
    ),
    "proof": ("address", "income", "ID", "rent", "residency", "savings"),
    "Dup_act": (
        "Found on file, request cancelled",
        "Linked docs to claim",
        "Adv to resend as not indexed",
        "Sent to {team} to match up",
        "Apologised, noted on account",
        "Confirmed recd, no need to resend",
        "Adv can upload again via portal",
    ),
    "Comp_act": (
        "Logged, ref {refno}",
        "Passed to complaints team",
        "Adv of complaints process",
        "Manager cb requested",
        "Acknowledged, 10 working day response",
        "Apologised and logged",
        "Sent complaints form",
    ),
    "place": ("the front desk", "the home visit", "reception", "the appt", "the drop-in"),
    "C_complaint": (
        "Nobody has taken responsibility for my case.",
        "I've had to chase you again and again.",
        "Your mistakes have cost me {amt}.",
        "I've been treated with no respect.",
        "I was promised a call back that never came.",
    ),
    "wk2": ("a week", "5 working days", "48 hrs", "2 wks", "10 working days"),
}

_CUST_BY_SECTOR: dict[str, tuple[str, ...]] = {
    "benefits": ("cust", "clmt", "caller", "customer", "clmt"),
    "tax": ("cust", "caller", "customer", "taxpayer"),
    "council": ("cust", "resident", "caller", "tenant", "cust"),
    "health": ("pt", "patient", "caller", "pt"),
    "other": ("cust", "caller", "customer"),
}

_RANG_BY_CHANNEL: dict[str, tuple[str, ...]] = {
    "phone": ("rang", "called", "phoned", "rang in", "called in"),
    "face_to_face": ("came in", "attended", "came to desk", "visited office", "dropped in"),
}
_RANG_DEFAULT: tuple[str, ...] = ("contacted us", "got in touch", "made contact")

# Optional frames per channel: (openers, closers). Blank entries keep most notes bare.
_FRAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "phone": (
        ("", "", "", "", "", "", "Inbound call. ", "Incoming call. ", "Tel. "),
        ("", "", "", "", "", " Ref {refno}.", " Notes updated.", " NFA.", " Call ended."),
    ),
    "face_to_face": (
        ("", "", "", "", "F2F. ", "Walk-in. ", "Drop-in. ", "Front desk. "),
        ("", "", "", "", "", " Ref {refno}.", " Notes updated.", " NFA."),
    ),
    "web": (
        ("", "", "", "", "", "", "Hi, ", "Hello, "),
        ("", "", "", "", "", " Thanks.", " Thank you."),
    ),
    "email": (
        ("", "", "", "", "Hello, ", "Hi, ", "Good morning, ", "Dear Sir or Madam, "),
        ("", "", "", "", " Thanks.", " Kind regards.", " Many thanks.", " Regards."),
    ),
    "letter": (
        ("", "", "", "Dear Sir or Madam, ", "Dear Sir/Madam, ", "To whom it may concern, "),
        ("", "", "", " Yours faithfully.", " Yours sincerely.", " I look forward to your reply."),
    ),
    "webchat": (
        ("", "", "", "", "", "", "hi ", "Hi, "),
        ("", "", "", "", "", " thanks", " Thanks"),
    ),
}

# ---------------------------------------------------------------------------
# Derived slots.
# ---------------------------------------------------------------------------

_NUMBER_WORDS: tuple[str, ...] = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
)
_MAX_DAYS: Final[int] = 400


def _word(n: int) -> str:
    """Spell small numbers, as people do in writing."""
    return _NUMBER_WORDS[n] if n < len(_NUMBER_WORDS) else str(n)


def _citizen_waits(d: int) -> tuple[str, ...]:
    """Ways a citizen might describe ``d`` days of waiting."""
    if d <= 1:
        return ("a day", "one day", "24 hours")
    if d < 7:
        return (f"{d} days", f"{_word(d)} days", "a few days")
    if d < 14:
        return ("a week", "over a week", f"{d} days", "more than a week")
    if d < 60:
        w = d // 7
        return (f"{d} days", f"{_word(w)} weeks", f"over {_word(w)} weeks", f"{w} weeks")
    m = d // 30
    return (f"{d} days", f"{_word(m)} months", f"over {_word(m)} months", f"{d // 7} weeks")


def _adviser_waits(d: int) -> tuple[str, ...]:
    """Ways an adviser might log ``d`` days of waiting."""
    if d <= 1:
        return ("1 day", "24 hrs")
    if d < 14:
        return (f"{d} days", f"{d} days", f"{d}d")
    if d < 60:
        return (f"{d} days", f"{d // 7} wks", f"{d // 7} weeks")
    return (f"{d} days", f"{d // 30} mths", f"{d // 7} wks")


_CITIZEN_WAITS: tuple[tuple[str, ...], ...] = tuple(_citizen_waits(d) for d in range(_MAX_DAYS + 1))
_ADVISER_WAITS: tuple[tuple[str, ...], ...] = tuple(_adviser_waits(d) for d in range(_MAX_DAYS + 1))

_THIRD_PERSON: dict[str, str] = {
    "my": "their",
    "me": "them",
    "myself": "themselves",
    "i": "they",
    "i'm": "they're",
    "i've": "they've",
    "mine": "theirs",
    "our": "their",
    "we": "they",
    "us": "them",
}

# Small memo caches keyed by context strings (the set of distinct values is small).
_LIFE3_CACHE: dict[str, str] = {}
_SECTOR_CACHE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
_ABBR_CACHE: dict[str, str] = {}


def _third_person(phrase: str) -> str:
    """Turn 'lost my job' into 'lost their job' for the adviser's voice."""
    out = _LIFE3_CACHE.get(phrase)
    if out is None:
        out = " ".join(_THIRD_PERSON.get(w.lower(), w) for w in phrase.split())
        _LIFE3_CACHE[phrase] = out
    return out


def _sector_custs(org: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Words (lower, capitalised) an adviser in this organisation uses for the person."""
    out = _SECTOR_CACHE.get(org)
    if out is None:
        low = org.lower()
        if any(k in low for k in ("gp", "nhs", "surgery", "hospital", "health", "practice")):
            sector = "health"
        elif "council" in low or "borough" in low:
            sector = "council"
        elif "hmrc" in low or "tax" in low or "revenue" in low:
            sector = "tax"
        elif any(k in low for k in ("dwp", "jobcentre", "work and pensions", "benefit")):
            sector = "benefits"
        else:
            sector = "other"
        out = (_CUST_BY_SECTOR[sector], _CUST_CAP_BY_SECTOR[sector])
        _SECTOR_CACHE[org] = out
    return out


def _org_abbrev(org: str) -> str:
    """Drop a leading 'the ', as advisers do: 'the DWP' -> 'DWP'."""
    out = _ABBR_CACHE.get(org)
    if out is None:
        out = org[4:] if org[:4].lower() == "the " else org
        _ABBR_CACHE[org] = out
    return out


# ---------------------------------------------------------------------------
# Compilation.
# ---------------------------------------------------------------------------

_SlotFn = Callable[[random.Random, NoteContext], str]
# A compiled template: a plain string, or a positional format string and its slot
# functions. Fields 0-7 are always the context fields below, in NoteContext's order
# (the whole tuple is passed on every call: cheaper than a function call per field);
# fields 8.. are the slot functions' values.
_Compiled = str | tuple[str, tuple[_SlotFn, ...]]

_CTX_FIELDS: tuple[str, ...] = (
    "org",
    "service",
    "thing",
    "other_org",
    "life_event",
    "days",
    "amount",
    "channel",
)
_CTX_INDEX: dict[str, int] = {name: i for i, name in enumerate(_CTX_FIELDS)}


def _run(c: _Compiled, rng: random.Random, ctx: NoteContext) -> str:
    """Render one compiled template."""
    if isinstance(c, str):
        return c
    fmt, fns = c
    return fmt.format(*ctx, *[f(rng, ctx) for f in fns])


def _pick_fn(entries: Sequence[str]) -> _SlotFn:
    """Slot function choosing uniformly among ``entries`` (which may hold fields)."""
    compiled = tuple(_compile(e) for e in entries)
    n = len(compiled)
    if all(isinstance(c, str) for c in compiled):
        plain: tuple[str, ...] = tuple(entries)

        def pick_plain(rng: random.Random, ctx: NoteContext) -> str:
            return plain[int(rng.random() * n)]

        return pick_plain

    def pick(rng: random.Random, ctx: NoteContext) -> str:
        return _run(compiled[int(rng.random() * n)], rng, ctx)

    return pick


def _cap(text: str) -> str:
    """Capitalise the first character only ("cust w/ UC" -> "Cust w/ UC")."""
    return text[:1].upper() + text[1:]


def _cap_template(template: str) -> str:
    """Capitalise a template's first word, even when that word is a field."""
    if template.startswith("{"):
        return "{" + _cap(template[1:])
    return _cap(template)


_CUST_CAP_BY_SECTOR: dict[str, tuple[str, ...]] = {
    sector: tuple(_cap(w) for w in words) for sector, words in _CUST_BY_SECTOR.items()
}


def _cust(rng: random.Random, ctx: NoteContext) -> str:
    words = _sector_custs(ctx.org)[0]
    return words[int(rng.random() * len(words))]


def _cust_cap(rng: random.Random, ctx: NoteContext) -> str:
    words = _sector_custs(ctx.org)[1]
    return words[int(rng.random() * len(words))]


def _rang(rng: random.Random, ctx: NoteContext) -> str:
    words = _RANG_BY_CHANNEL.get(ctx.channel, _RANG_DEFAULT)
    return words[int(rng.random() * len(words))]


def _svc(rng: random.Random, ctx: NoteContext) -> str:
    abbr = SERVICE_ABBREVIATIONS.get(ctx.service.lower())
    if abbr is not None and rng.random() < 0.7:
        return abbr
    return ctx.service


def _thg(rng: random.Random, ctx: NoteContext) -> str:
    abbr = THING_ABBREVIATIONS.get(ctx.thing)
    if abbr is not None and rng.random() < 0.6:
        return abbr
    return ctx.thing


def _days_index(days: int) -> int:
    return 1 if days < 1 else (days if days <= _MAX_DAYS else _MAX_DAYS)


def _wait(rng: random.Random, ctx: NoteContext) -> str:
    opts = _CITIZEN_WAITS[_days_index(ctx.days)]
    return opts[int(rng.random() * len(opts))]


def _wk(rng: random.Random, ctx: NoteContext) -> str:
    opts = _ADVISER_WAITS[_days_index(ctx.days)]
    return opts[int(rng.random() * len(opts))]


def _amt(rng: random.Random, ctx: NoteContext) -> str:
    if rng.random() < 0.15:
        return f"£{ctx.amount:,}.00"
    return f"£{ctx.amount:,}"


def _refno(rng: random.Random, ctx: NoteContext) -> str:
    return str(10_000_000 + int(rng.random() * 90_000_000))


def _life3(rng: random.Random, ctx: NoteContext) -> str:
    return _third_person(ctx.life_event)


def _orgab(rng: random.Random, ctx: NoteContext) -> str:
    return _org_abbrev(ctx.org)


def _otherab(rng: random.Random, ctx: NoteContext) -> str:
    return _org_abbrev(ctx.other_org)


_DERIVED: dict[str, _SlotFn] = {
    "life3": _life3,
    "orgab": _orgab,
    "otherab": _otherab,
    "cust": _cust,
    "Cust": _cust_cap,
    "rang": _rang,
    "svc": _svc,
    "thg": _thg,
    "wait": _wait,
    "wk": _wk,
    "amt": _amt,
    "refno": _refno,
}
_SLOT_CACHE: dict[str, _SlotFn] = {}


def _capitalised(fn: _SlotFn) -> _SlotFn:
    """Wrap a slot function so its value starts with a capital."""

    def cap(rng: random.Random, ctx: NoteContext) -> str:
        return _cap(fn(rng, ctx))

    return cap


def _slot(name: str) -> _SlotFn:
    """Resolve a (non-context) field name to its slot function."""
    fn = _DERIVED.get(name) or _SLOT_CACHE.get(name)
    if fn is not None:
        return fn
    if name in _LISTS:
        fn = _pick_fn(_LISTS[name])
    else:
        low = name[:1].lower() + name[1:]
        if not name[:1].isupper() or low == name:
            raise KeyError(f"unknown template field {{{name}}}")
        if low in _LISTS:
            # Capitalise the list entries once, rather than every value per call.
            fn = _pick_fn([_cap_template(e) for e in _LISTS[low]])
        elif low in _DERIVED or low in _CTX_FIELDS:
            fn = _capitalised(_DERIVED[low] if low in _DERIVED else _ctx_getter(low))
        else:
            raise KeyError(f"unknown template field {{{name}}}")
    _SLOT_CACHE[name] = fn
    return fn


def _ctx_getter(name: str) -> _SlotFn:
    """Slot function returning a context field as text (used only for capitals)."""

    def get(rng: random.Random, ctx: NoteContext) -> str:
        return str(getattr(ctx, name))

    return get


_FORMATTER = Formatter()


def _compile(template: str) -> _Compiled:
    """Turn ``'a {service} {x}'`` into ``('a {1} {7}', (slot_x,))``.

    Text without fields stays a plain string.
    """
    parts: list[str] = []
    fns: list[_SlotFn] = []
    uses_ctx = False
    for literal, field, spec, conv in _FORMATTER.parse(template):
        parts.append(literal.replace("{", "{{").replace("}", "}}"))
        if field is None:
            continue
        if spec or conv:
            raise ValueError(f"format specs are not supported: {template!r}")
        if field in _CTX_INDEX:
            parts.append("{" + str(_CTX_INDEX[field]) + "}")
            uses_ctx = True
        else:
            parts.append("{" + str(len(_CTX_FIELDS) + len(fns)) + "}")
            fns.append(_slot(field))
    if not fns and not uses_ctx:
        return template
    return "".join(parts), tuple(fns)


# category -> (adviser pool, citizen pool)
_COMPILED: dict[str, tuple[tuple[_Compiled, ...], tuple[_Compiled, ...]]] = {
    cat: (tuple(_compile(t) for t in adv), tuple(_compile(t) for t in cit))
    for cat, (adv, cit) in _TEMPLATES.items()
}
_COUNTS: dict[str, int] = {cat: len(a) + len(c) for cat, (a, c) in _COMPILED.items()}


# A frame is (opener, lowercase what follows?, closer). Openers and closers are
# multiplied out per channel so that one draw picks both.
_Frame = tuple[_Compiled, bool, _Compiled]


def _frames(openers: Sequence[str], closers: Sequence[str]) -> tuple[_Frame, ...]:
    """All opener/closer pairs for a channel, compiled."""
    out: list[_Frame] = []
    for o in openers:
        lower_next = bool(o) and not o.rstrip().endswith((".", ":", "!", "?"))
        co = _compile(o)
        out.extend((co, lower_next, _compile(c)) for c in closers)
    return tuple(out)


_CHANNEL_FRAMES: dict[str, tuple[_Frame, ...]] = {
    ch: _frames(o, c) for ch, (o, c) in _FRAMES.items()
}

# What a call needs, looked up once per (category, channel):
# (template pool, template id offset, adviser voice?, frames).
_Plan = tuple[tuple[_Compiled, ...], int, bool, tuple[_Frame, ...]]
_PLANS: dict[str, dict[str, _Plan]] = {
    cat: {
        ch: (adv, 0, True, fr) if ch in ADVISER_CHANNELS else (cit, len(adv), False, fr)
        for ch, fr in _CHANNEL_FRAMES.items()
    }
    for cat, (adv, cit) in _COMPILED.items()
}
_FALLBACK_CHANNEL: Final[str] = "web"  # unknown channels get the citizen's voice

# ---------------------------------------------------------------------------
# Typos.
# ---------------------------------------------------------------------------


def _add_typo(rng: random.Random, s: str) -> str:
    """Introduce one small typo; always returns a different string."""
    r = rng.random()
    if r < 0.2 and s[:1].isupper() and not s.startswith(("I ", "I'")):
        return s[0].lower() + s[1:]
    if r < 0.35:
        i = s.find("'")
        if i > 0:
            return s[:i] + s[i + 1 :]
    n = len(s)
    if n < 2:
        return s + s
    start = int(rng.random() * (n - 1))
    op = int(rng.random() * 3)
    j = start
    for _ in range(n - 1):
        a = s[j]
        b = s[j + 1]
        if a.isalpha() and b.isalpha() and a != b:
            if op == 0:
                return s[:j] + s[j + 1 :]  # dropped letter
            if op == 1:
                return s[: j + 1] + a + s[j + 1 :]  # doubled letter
            return s[:j] + b + a + s[j + 2 :]  # swapped letters
        j += 1
        if j >= n - 1:
            j = 0
    return s[:1] + s  # no letter pair found: double the first character


# ---------------------------------------------------------------------------
# Public API.
# ---------------------------------------------------------------------------


def _render(
    rng: random.Random, category: str, ctx: NoteContext, typo_rate: float
) -> tuple[str, int, bool, bool]:
    """Core renderer: (text, template id, adviser voice?, typo?)."""
    plans = _PLANS.get(category)
    if plans is None:
        raise ValueError(f"unknown note category {category!r}; expected one of {CATEGORIES}")
    plan = plans.get(ctx.channel)
    if plan is None:
        plan = plans[_FALLBACK_CHANNEL]
    pool, offset, adviser, frames = plan
    idx = int(rng.random() * len(pool))
    c = pool[idx]
    if isinstance(c, str):
        text = c
    else:
        fmt, fns = c
        text = fmt.format(*ctx, *[f(rng, ctx) for f in fns])

    opener, lower_next, closer = frames[int(rng.random() * len(frames))]
    if opener:
        if (
            lower_next
            and text[:1].isupper()
            and not text[1:2].isupper()
            and not text.startswith(("I ", "I'"))
        ):
            text = text[0].lower() + text[1:]
        text = _run(opener, rng, ctx) + text
    if closer:
        text += _run(closer, rng, ctx)

    typo = rng.random() < typo_rate
    if typo:
        text = _add_typo(rng, text)
    return text, idx + offset, adviser, typo


def render_note(rng: random.Random, category: str, ctx: NoteContext) -> str:
    """Render one free-text note for a contact of ``category`` about ``ctx``.

    Deterministic given the state of ``rng``; raises ``ValueError`` for an unknown
    category.
    """
    return _render(rng, category, ctx, TYPO_RATE)[0]


def render_note_with_meta(
    rng: random.Random, category: str, ctx: NoteContext, *, typo_rate: float = TYPO_RATE
) -> RenderedNote:
    """Like :func:`render_note`, also saying which template, voice and typo were used.

    With the default ``typo_rate`` it consumes ``rng`` exactly as :func:`render_note`
    does and returns the same text. Any ``typo_rate`` draws the same numbers up to the
    typo decision, so ``typo_rate=0`` on a copied state shows the note without its typo.
    """
    text, tid, adviser, typo = _render(rng, category, ctx, typo_rate)
    return RenderedNote(text, category, tid, "adviser" if adviser else "citizen", typo)


def template_count(category: str) -> int:
    """Number of distinct templates (both voices) for ``category``."""
    try:
        return _COUNTS[category]
    except KeyError:
        raise ValueError(
            f"unknown note category {category!r}; expected one of {CATEGORIES}"
        ) from None
