#!/usr/bin/env python3
"""spimsim's message texts: spam for the bots, ordinary first messages for the people, and training corpora.

Everything is generated here from templates and word lists, deterministically from a seed: nothing is downloaded.
The slots (names, amounts, places, domains, URLs, times, documents) and the variations on top of them (greetings,
sign-offs, casing, emoji, and for spam the obfuscations spammers use: s p a c e d letters, d.o.t.t.e.d words,
Cyrillic and Greek look-alike letters, zero-width spaces) make nearly every body distinct, so a filter that matches
exact texts learns nothing; what a content filter can learn is the vocabulary and the shape of the two kinds.

    bench/spimsim_texts.py [--seed 1] [--n 10] [--stream live|training] [spam|ham|crowd]   # prints samples

Every text is one line (the training files hold one message per line).
"""

from __future__ import annotations

import argparse
import random
import re
import string

FIRST_NAMES = ("Anna Ben Carla David Elena Farid Grace Hannah Ivan Julia Kenji Lena Marco Nadia Omar Paula Quentin "
               "Rosa Samir Tanja Uwe Vera Wei Xenia Yusuf Zoe Mateo Priya Lars Ines Tom Amira Jonas Mei Olga "
               "Pedro Sofia Tariq Ulla Noor").split()
CITIES = ("Berlin Lyon Madrid Porto Leeds Graz Utrecht Gdansk Bologna Aarhus Toronto Austin Denver Osaka Lagos "
          "Nairobi Kraków Ghent Tampere Bergen").split()
COUNTRIES = "Nigeria Vietnam Brazil Russia Indonesia Romania Ukraine India China Turkey".split()

# --- spam -------------------------------------------------------------------------------------------------------

SPAM_TLDS = ".xyz .top .click .info .site .online .live .shop .ru .cn .com .net .biz .icu .buzz .cc".split()
SHORTENERS = ("bit.ly", "tinyurl.com", "is.gd", "cutt.ly", "t.ly", "rb.gy", "shorturl.at")
SYLLABLES = ("win coin pro max secure trade gain bit fx meta smart fast vip pay cash lux gold easy top best "
             "nova lab hub zone go my get web app").split()
BRANDS = "PayPal Apple Amazon Netflix Microsoft Binance Coinbase DHL FedEx WhatsApp Steam Google Instagram".split()
COINS = "Bitcoin BTC Ethereum ETH USDT Solana XRP Dogecoin".split()
DRUGS = "Viagra Cialis Xanax Tramadol Valium Ambien Levitra Phentermine Oxycodone Adderall".split()
PRIZES = ("iPhone 15 Pro", "PS5", "MacBook Air", "$1,000 gift card", "Samsung Galaxy S24", "AirPods Pro",
          "$500 voucher", "free year of Premium")
OPENERS = ("hi dear", "hello dear", "hi dear, how are you?", "hello, are you there?", "hey handsome",
           "hi, can we be friends?", "hello my friend", "good day dear", "hi sweetie", "hey, remember me?",
           "hello dear, I saw your profile", "hi, is this still your number?", "dear friend, greetings")
EMOJI_SPAM = ("💰", "🚀", "🔥", "💎", "😘", "❤️", "🎁", "✅", "⚠️", "👉", "📈", "💋")
# Latin letters and the Cyrillic or Greek letters that look the same: what spammers swap in to dodge word filters.
LOOKALIKES = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "y": "у", "i": "і", "A": "Α", "B": "Β",
              "E": "Ε", "H": "Η", "K": "Κ", "M": "Μ", "O": "Ο", "P": "Ρ", "T": "Τ"}
ZERO_WIDTH = "\u200b"
LINKISH = re.compile(r"\w\.[a-z]{2,}")  # a domain in a word: paysmart.ru (s.p.a.c.e.d letters are no domain)

# --- ham --------------------------------------------------------------------------------------------------------

COMPANIES = "acme northwind globex initech umbrella contoso fabrikam hooli vandelay wayne".split()
TEAMS = "infra web mobile data platform billing search payments design research".split()
REPOS = "api-gateway frontend etl-jobs mobile-app docs billing-service search-index design-system".split()
DAYS = "Monday Tuesday Wednesday Thursday Friday".split()
TOPICS = ("the Q3 roadmap", "the migration plan", "the budget review", "the onboarding doc", "the release notes",
          "the user study", "the hiring plan", "the incident review", "the API changes", "the grant proposal",
          "the workshop agenda", "the thesis draft", "the conference talk", "the new logo")
PLACES = ("the usual place", "the canteen", "the Thai place on the corner", "the café downstairs", "the pizza place",
          "the food trucks", "the ramen bar", "the park if it's sunny")
CONFERENCES = ("FOSDEM", "XMPP Summit", "RustConf", "PyCon", "KubeCon", "the Chaos Communication Congress",
               "DebConf", "the Linux Plumbers Conference")
TALK_TOPICS = ("federation", "end-to-end encryption", "spam filtering", "Rust in production", "observability",
               "accessibility", "packaging", "CRDTs", "mobile push", "Matrix bridges")
EMOJI_HAM = ("🙂", "😊", "👍", "🙏", "😄", "☕", "🍕")


def _maybe(rng: random.Random, p: float, text: str, otherwise: str = "") -> str:
    return text if rng.random() < p else otherwise


class Texts:
    """One deterministic stream of texts. `spam()`, `ham()` and `crowd()` each return one line."""

    def __init__(self, seed: str):
        self.rng = random.Random(seed)

    # Slots ------------------------------------------------------------------------------------------------------

    def name(self) -> str:
        return self.rng.choice(FIRST_NAMES)

    def spam_domain(self) -> str:
        r = self.rng
        core = "".join(r.sample(SYLLABLES, r.randint(2, 3)))
        if r.random() < 0.3:
            core += str(r.randint(1, 999))
        if r.random() < 0.25:
            core = core[:r.randint(3, len(core))] + "-" + r.choice(SYLLABLES)
        return core + r.choice(SPAM_TLDS)

    def token(self, n: int) -> str:
        return "".join(self.rng.choices(string.ascii_letters + string.digits, k=n))

    def spam_url(self) -> str:
        r = self.rng
        kind = r.random()
        if kind < 0.25:
            return f"https://{r.choice(SHORTENERS)}/{self.token(r.randint(5, 8))}"
        if kind < 0.35:
            return f"https://t.me/{self.token(r.randint(6, 10)).lower()}"
        scheme = r.choice(("https://", "https://", "http://", ""))
        host = self.spam_domain()
        if r.random() < 0.3:  # a brand in a subdomain: paypal.secure-login.xyz
            host = f"{r.choice(BRANDS).lower()}.{host}"
        path = r.choice(("", "/login", "/verify", "/claim", "/promo", "/r", "/go", "/invest", "/app", "/signup"))
        if r.random() < 0.6:
            path += f"/{self.token(r.randint(4, 12))}"
        if r.random() < 0.4:
            path += f"?{r.choice(('ref', 'id', 'u', 'code', 'utm_source'))}={self.token(r.randint(4, 10))}"
        return scheme + host + path

    def amount(self) -> str:
        r = self.rng
        value = r.choice((r.randint(3, 95) * 100, r.randint(1, 48) * 1000, r.randint(12, 400) * 50))
        return r.choice(("${:,}", "{:,} USD", "€{:,}", "{:,}$", "£{:,}")).format(value)

    # Spam ------------------------------------------------------------------------------------------------------

    def _crypto(self) -> str:
        r = self.rng
        n, coin, url = self.name(), r.choice(COINS), self.spam_url()
        return r.choice((
            f"Hi, I'm {n}. I made {self.amount()} last week trading {coin} with a mentor, and I can show you how: "
            f"{url}",
            f"{coin} signal group: {r.randint(200, 900)}% gains this month, only {r.randint(3, 20)} places left. "
            f"Join now {url}",
            f"Hello! My uncle works at a {coin} exchange and shared an investment plan, guaranteed "
            f"{r.randint(5, 40)}% per week. Minimum deposit {self.amount()}. Message me or register {url}",
            f"URGENT: your {coin} wallet has {self.amount()} in unclaimed rewards. Withdraw before "
            f"{r.choice(DAYS)}: {url}",
            f"Passive income with AI {coin} trading bot, start with {self.amount()}, withdraw any time. "
            f"Real results: {url}",
            f"I turned {self.amount()} into {self.amount()} in {r.randint(2, 9)} days on {self.spam_domain()}. "
            f"Ask me how 💰",
        ))

    def _singles(self) -> str:
        r = self.rng
        n, age, city, url = self.name(), r.randint(19, 34), r.choice(CITIES), self.spam_url()
        return r.choice((
            f"hey cutie {r.choice(EMOJI_SPAM)} I'm {n}, {age}, lonely tonight in {city}... see my private pics {url}",
            f"Hot singles in {city} want to meet you! {r.randint(3, 40)} women near you are online now: {url}",
            f"hi, I'm {n} {age}y. I found your contact and I think you are cute. my photos here {url} 😘",
            f"Are you free tonight? I'm {n} and I'm bored at home in {city}. write me on {url}",
            f"{n} ({age}) sent you a private video message. Open it here: {url}",
        ))

    def _pharmacy(self) -> str:
        r = self.rng
        drug, url = r.choice(DRUGS), self.spam_url()
        return r.choice((
            f"Cheap {drug} {r.choice((5, 10, 20, 50, 100))}mg, no prescription needed, {r.randint(30, 85)}% off, "
            f"discreet worldwide shipping: {url}",
            f"Online pharmacy: {drug}, {r.choice(DRUGS)}, {r.choice(DRUGS)} from ${r.randint(1, 3)}."
            f"{r.randint(10, 99)} per pill. Order today {url}",
            f"Best prices on {drug}! Buy {r.randint(2, 5)} get 1 free. Fast delivery in {r.randint(2, 7)} days "
            f"{url}",
            f"Lose {r.randint(5, 20)} kg in {r.randint(2, 6)} weeks with {r.choice(DRUGS)}, doctors hate it: {url}",
        ))

    def _support(self) -> str:
        r = self.rng
        brand, url = r.choice(BRANDS), self.spam_url()
        return r.choice((
            f"{brand} Security: unusual sign-in to your account from {r.choice(COUNTRIES)}. Verify your identity "
            f"within 24 hours or your account will be suspended: {url}",
            f"Dear customer, your {brand} payment of {self.amount()} could not be processed. Update your billing "
            f"details: {url}",
            f"{brand} Support here. We detected a problem with your account #{r.randint(100000, 999999)}. "
            f"Please confirm your password at {url}",
            f"Your parcel {r.choice(('DHL', 'FedEx', 'UPS'))}-{r.randint(10**8, 10**9)} is held at customs. "
            f"Pay the {self.amount()} fee to release it: {url}",
            f"Final notice: your {brand} subscription expires today. Renew now to keep your data: {url}",
        ))

    def _giveaway(self) -> str:
        r = self.rng
        brand, url = r.choice(BRANDS), self.spam_url()
        return r.choice((
            f"Congratulations! You were selected for the {brand} {r.choice(PRIZES)} giveaway. Claim before "
            f"{r.choice(DAYS)}: {url}",
            f"🎁 You are our {r.randint(10, 999)}th visitor today! Spin the wheel and win a {r.choice(PRIZES)}: "
            f"{url}",
            f"{brand} is giving away {r.randint(100, 5000)} {r.choice(PRIZES)}s to celebrate our anniversary. "
            f"Only {r.randint(2, 30)} left! {url}",
            f"You have (1) unclaimed reward worth {self.amount()}. Confirm your shipping address: {url}",
        ))

    def _phishing(self) -> str:
        r = self.rng
        n, url = self.name(), self.spam_url()
        return r.choice((
            f"Hi, is this you in this video?? {url}",
            f"{n} shared a document with you: \"{r.choice(('Invoice', 'Payment', 'Contract', 'Salary'))}_"
            f"{r.randint(1000, 9999)}.pdf\". View it here {url}",
            f"look what they posted about you 😳 {url}",
            f"I sent you the money, please confirm you received it: {url}",
            f"Your voicemail ({r.randint(1, 3)} new) is waiting: {url}",
        ))

    def _lure(self) -> str:
        """The spam that reads like a person: the wrong-number and old-friend openers of "pig butchering" scams,
        and recruiting scams. No link, nothing sold yet; what a filter has is the shape."""
        r = self.rng
        n = self.name()
        return r.choice((
            f"Hi, is this {self.name()}? We met at {r.choice(CONFERENCES)} last month, you said to message you here",
            f"Sorry, wrong number! But you seem nice. I'm {n}, where are you from?",
            f"Hey {self.name()}, long time no see! How have you been? I'm in {r.choice(CITIES)} now",
            f"Hello, I'm {n}, a recruiter at {r.choice(COMPANIES).capitalize()}. We have a remote part-time job, "
            f"{self.amount()} per day, only {r.choice((30, 45, 60, 90))} minutes. Interested?",
            f"Hi {self.name()}, are we still meeting {r.choice(DAYS)}? My assistant gave me this contact",
            f"Good afternoon, I'm {n} from the HR department. Your profile matches a position with a salary of "
            f"{self.amount()} a month. Can I send you the details?",
        ))

    def _opener(self) -> str:
        r = self.rng
        text = r.choice(OPENERS)
        return text + _maybe(r, 0.4, " " + r.choice(EMOJI_SPAM)) + _maybe(r, 0.3, f" I'm {self.name()}")

    def _obfuscate(self, text: str) -> str:
        """What spammers do to their keywords: space or dot the letters of one or two words, swap in look-alike
        letters, hide zero-width spaces; and sometimes SHOUT. Links stay as they are: they must still work."""
        r = self.rng
        words = text.split(" ")
        long_words = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
        for i in r.sample(long_words, min(len(long_words), r.randint(1, 2))):
            words[i] = r.choice((" ", ".", "-", "_")).join(words[i])
        how, p = r.random(), r.uniform(0.15, 0.5)
        shout = r.random() < 0.15
        for i, w in enumerate(words):
            if "/" in w or LINKISH.search(w):
                continue
            if how < 0.5:
                w = "".join(LOOKALIKES[ch] if ch in LOOKALIKES and r.random() < p else ch for ch in w)
            elif how < 0.7:
                w = "".join(ch + ZERO_WIDTH if ch.isalpha() and r.random() < 0.2 else ch for ch in w)
            words[i] = w.upper() if shout else w
        return " ".join(words)

    def spam(self) -> str:
        r = self.rng
        family = r.choices((self._crypto, self._singles, self._pharmacy, self._support, self._giveaway,
                            self._phishing, self._lure, self._opener), weights=(20, 14, 11, 14, 9, 11, 11, 10))[0]
        text = family()
        if family not in (self._opener, self._lure) and r.random() < 0.25:  # a greeting first, as the chatty ones do
            opener = r.choice(OPENERS).capitalize()
            text = f"{opener}{'' if opener[-1] in '?!' else '.'} {text}"
        if r.random() < 0.3:
            text = self._obfuscate(text)
        if r.random() < 0.2:
            text += " " + "".join(r.choices(EMOJI_SPAM, k=r.randint(1, 3)))
        return text

    # Ham -------------------------------------------------------------------------------------------------------

    def work_link(self) -> str:
        r = self.rng
        company = r.choice(COMPANIES)
        return r.choice((
            f"https://docs.{company}.com/document/d/{self.token(r.randint(16, 28))}/edit",
            f"https://gitlab.{company}.org/{r.choice(TEAMS)}/{r.choice(REPOS)}/-/merge_requests/{r.randint(10, 2400)}",
            f"https://github.com/{company}/{r.choice(REPOS)}/issues/{r.randint(1, 900)}",
            f"https://wiki.{company}.net/{r.choice(TEAMS)}/{r.choice(TOPICS).split()[-1].replace(' ', '-')}",
            f"https://{company}.sharepoint.com/sites/{r.choice(TEAMS)}/Shared%20Documents/"
            f"{r.choice(('notes', 'plan', 'draft', 'minutes'))}-{r.randint(1, 12):02d}.docx",
            f"https://meet.{company}.com/{r.choice(TEAMS)}-{r.choice(DAYS).lower()}",
        ))

    def _greeting(self, name: str) -> str:
        r = self.rng
        return r.choice((f"Hi {name}, ", f"Hello {name}! ", f"Hey {name}, ", f"hi {name.lower()} ", "Hi! ", "Hello, ",
                         "hey, ", f"Good morning {name}, ", f"Dear {name}, ", ""))

    def _signoff(self) -> str:
        r = self.rng
        return _maybe(r, 0.35, r.choice((" Thanks!", " Cheers", " Thanks a lot.", f" – {self.name()}", " Best,",
                                         " See you!", " thx"))) + _maybe(r, 0.15, " " + r.choice(EMOJI_HAM))

    def _ham_near_spam(self) -> str:
        """Ordinary messages that share spam's words: money, crypto, a prize, "verify your account", a shortened
        link, "hello dear" — what a content filter must not learn to refuse."""
        r = self.rng
        n, company = self.name(), r.choice(COMPANIES)
        return r.choice((
            f"hello dear, it's your aunt {n}, I have a new phone. How are you?",
            "hi, are you there?",
            f"did you see {r.choice(COINS)} is at {self.amount()} again? I'm thinking of finally selling mine",
            f"I sent you the money for the tickets, {self.amount()}. Let me know when it arrives!",
            f"IT asks everyone to verify their account on the new VPN portal by {r.choice(DAYS)}: "
            f"https://vpn.{company}.com/enroll",
            f"the workshop is free for speakers, you can register here: https://{company}.events/register",
            f"congrats on winning the hackathon prize!! {r.choice(EMOJI_HAM)}",
            f"this made me laugh: https://youtu.be/{self.token(11)}",
            f"slides from today: https://bit.ly/{self.token(7)}",
            f"my pharmacy says the prescription isn't there yet, could you call Dr. {n}'s office?",
            f"hey, long time no see! I'm back in {r.choice(CITIES)}, coffee some time?",
            "your parcel is at my place, the DHL guy left it with me",
        ))

    def ham(self) -> str:
        """A person's first message to someone: meeting, project, lunch, introduction, question, of any length,
        sometimes with a link to a work document; now and then one that shares spam's words."""
        r = self.rng
        if r.random() < 0.15:
            text = self._ham_near_spam()
            return text[0].upper() + text[1:] if r.random() < 0.7 else text
        to, me, topic, day = self.name(), self.name(), r.choice(TOPICS), r.choice(DAYS)
        time_ = f"{r.randint(8, 17)}:{r.choice(('00', '15', '30', '45'))}"
        link = self.work_link()
        body = r.choice((
            # meeting
            f"are we still on for {day} at {time_}? I booked the small room.",
            f"could we move our call about {topic} to {day}? Something came up at {time_}.",
            f"I'll be a few minutes late for the {time_} meeting, start without me.",
            f"can you join the review of {topic} on {day}? Here's the invite: {self.work_link()}",
            # project
            f"I pushed the changes we discussed, could you take a look when you have time? {link}",
            f"quick update on {topic}: the first part is done, the rest should be ready by {day}.",
            f"the build is failing again on the {r.choice(REPOS)} branch, do you know what changed? {link}",
            f"I left a few comments on {topic}, nothing blocking. {link}",
            f"do you have the numbers for {topic}? I need them for the slides on {day}.",
            # lunch
            f"lunch today? I was thinking {r.choice(PLACES)} around {r.randint(12, 13)}:{r.choice(('00', '30'))}.",
            "want to grab a coffee after the standup?",
            f"a few of us are going to {r.choice(PLACES)} on {day}, want to come along?",
            # introduction
            f"I'm {me}, I just joined the {r.choice(TEAMS)} team. {r.choice(('Anna', 'Ben', 'Priya', 'Lars'))} said "
            f"you're the person to ask about {topic}. Do you have 15 minutes this week?",
            f"this is {me} from {r.choice(COMPANIES).capitalize()}, we met in {r.choice(CITIES)} last month. "
            f"Would love to continue our chat about {topic}.",
            f"{me} here, {self.name()}'s colleague. They gave me your address for a question about {topic}.",
            # question
            f"do you know who owns {topic} now? The wiki still lists someone who left.",
            f"sorry to bother you, where do I find the template for {topic}?",
            f"is the {r.choice(TEAMS)} channel the right place to ask about access to {r.choice(REPOS)}?",
            f"did you get my mail about {topic}? No rush, just checking it didn't get lost.",
            f"quick question: does the {day} deadline for {topic} still hold?",
            # longer ones
            f"I read your notes on {topic} and I think we can simplify step two: if the {r.choice(REPOS)} job runs "
            f"first, the rest doesn't need the manual export. I wrote it up here {link}, let me know what you think "
            f"before {day}, then I'll bring it to the team.",
            f"thanks again for your help with {topic} last week. The numbers looked much better afterwards, and the "
            f"{r.choice(TEAMS)} folks want to use the same approach. Could we do a short session with them on {day} "
            f"at {time_}?",
        ))
        text = self._greeting(to) + body + self._signoff()
        return text[0].upper() + text[1:] if r.random() < 0.8 else text

    def crowd(self) -> str:
        """A conference attendee's first message to someone they met or saw there."""
        r = self.rng
        conf, talk, me = r.choice(CONFERENCES), r.choice(TALK_TOPICS), self.name()
        body = r.choice((
            f"we met at {conf} yesterday, at the {talk} session. Here are the slides I mentioned: {self.work_link()}",
            f"I'm {me}, I asked the question about {talk} after your talk at {conf}. Could I send you a few more?",
            f"great talk on {talk}! Is the recording up somewhere?",
            f"it was nice meeting you at {conf}. Are you going to the {talk} BoF tonight?",
            f"following up from the hallway chat at {conf}: I'd love to try your {talk} setup on our servers.",
            f"we're a few people from {conf} meeting for dinner at {r.randint(18, 20)}:{r.choice(('00', '30'))}, "
            f"join us?",
            f"I'm the one who sat next to you in the {talk} workshop. Did you get the demo working in the end?",
        ))
        text = self._greeting(self.name()) + body + self._signoff()
        return text[0].upper() + text[1:]


def training_corpora(seed: int, n: int) -> tuple[list[str], list[str]]:
    """N spam and N ham lines from a stream of their own (not the texts the simulation sends), ham mixing people's
    and the conference crowd's messages as a server sees them."""
    texts = Texts(f"spimsim-training-{seed}")
    spam = [texts.spam() for _ in range(n)]
    ham = [texts.crowd() if i % 4 == 3 else texts.ham() for i in range(n)]
    return spam, ham


class UniqueTexts:
    """The live stream for one simulation: every body distinct, so a body received says whose message it was."""

    def __init__(self, seed: int):
        self.texts = Texts(f"spimsim-live-{seed}")
        self.used: set[str] = set()

    def _unique(self, make) -> str:
        for _ in range(1000):
            text = make()
            if text not in self.used:
                self.used.add(text)
                return text
        raise RuntimeError("spimsim_texts: no new text in 1000 tries")

    def spam(self) -> str:
        return self._unique(self.texts.spam)

    def ham(self) -> str:
        return self._unique(self.texts.ham)

    def crowd(self) -> str:
        return self._unique(self.texts.crowd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", nargs="?", default="spam", choices=("spam", "ham", "crowd"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--stream", default="live", choices=("live", "training"))
    args = parser.parse_args()
    if args.stream == "training":
        spam, ham = training_corpora(args.seed, args.n)
        print("\n".join(spam if args.what == "spam" else ham))
        return
    texts = UniqueTexts(args.seed)
    for _ in range(args.n):
        print(getattr(texts, args.what)())


if __name__ == "__main__":
    main()
