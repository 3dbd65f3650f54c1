// The Bot Challenge, step by step through the seed's scenario (a–s), on a fake clock.
#include <doctest.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "antispim/challenge.hpp"

using namespace hush::antispim;
using namespace std::chrono_literals;

namespace {

challenge_settings code() {
    challenge_settings s;  // the default: kind code, 4 digits
    s.min_answer = 3s;
    s.max_tries = 3;
    return s;
}

challenge_settings sky() {
    challenge_settings s;
    s.kind = challenge_kind::question;
    s.question = "What colour is a clear sky?";
    s.good_answers = {"blue"};
    s.wrong_answers = {"green", "red", "purple", "orange", "black"};
    s.min_answer = 3s;
    s.max_tries = 3;
    s.long_interval = 10min;
    s.growth = 10;
    s.steps = 4;
    s.offered = 4;
    return s;
}

const time_point t0 = time_point(std::chrono::seconds(1'800'000'000));

std::string good_number(const sender_state& st) {
    for (std::size_t i = 0; i < st.offered.size(); ++i) {
        if (st.offered[i] == "blue") {
            return std::to_string(i + 1);
        }
    }
    FAIL("no good answer offered");
    return {};
}

std::string wrong_text(const sender_state& st) {
    for (const auto& o : st.offered) {
        if (o != "blue") {
            return o;
        }
    }
    FAIL("no wrong answer offered");
    return {};
}

std::string xml_of(const challenge_settings& s) {
    pugi::xml_document doc;
    append_challenge_settings(doc, s);
    std::ostringstream out;
    doc.save(out, "", pugi::format_raw | pugi::format_no_declaration);
    return out.str();
}

}  // namespace

TEST_CASE("3a-c: a stranger's first stanza gets a challenge with a random subset holding a good answer") {
    challenge_engine engine(1);
    sender_state st;
    const auto out = engine.on_stanza(st, sky(), t0);
    CHECK(out.what == stranger_outcome::kind::challenge);
    CHECK(st.challenge_id.size() == 32);  // always: ids must not differ in shape
    REQUIRE(st.offered.size() == 4);
    CHECK(std::count(st.offered.begin(), st.offered.end(), "blue") == 1);
    CHECK(std::set<std::string>(st.offered.begin(), st.offered.end()).size() == 4);
    SUBCASE("a second stanza soon after: the same challenge stands (no flood of challenges)") {
        const auto id = st.challenge_id;
        CHECK(engine.on_stanza(st, sky(), t0 + 10s).what == stranger_outcome::kind::resend);
        CHECK(st.challenge_id == id);
    }
    SUBCASE("a stanza a while later: a new challenge") {
        const auto id = st.challenge_id;
        CHECK(engine.on_stanza(st, sky(), t0 + 120s).what == stranger_outcome::kind::challenge);
        CHECK(st.challenge_id != id);
    }
}

TEST_CASE("3d-i: answers faster than a human cost tries, each try gets other answers, then a lockout") {
    challenge_engine engine(2);
    sender_state st;
    engine.on_stanza(st, sky(), t0);
    auto previous = st.offered;
    auto previous_id = st.challenge_id;
    // e and g: too fast (even with the right answer: nobody reads that fast).
    for (int i = 0; i < 2; ++i) {
        const auto out = engine.on_answer(st, sky(), st.challenged_at + 1s, good_number(st), "k1");
        CHECK(out.what == answer_outcome::kind::too_fast);
        CHECK(st.challenge_id != previous_id);
        CHECK(st.offered != previous);  // *other* random answers
        previous = st.offered;
        previous_id = st.challenge_id;
    }
    // i: the third too-fast answer: the long interval starts.
    const auto at = st.challenged_at + 1s;
    const auto out = engine.on_answer(st, sky(), at, good_number(st), "k1");
    CHECK(out.what == answer_outcome::kind::locked_out);
    CHECK(out.until == at + 10min);
    CHECK(st.challenge_id.empty());
    CHECK(st.approved_key.empty());
}

TEST_CASE("3j-k: trying during the long interval starts it over") {
    challenge_engine engine(3);
    sender_state st;
    engine.on_stanza(st, sky(), t0);
    time_point last{};
    for (int i = 0; i < 3; ++i) {
        last = st.challenged_at + 5s;
        engine.on_answer(st, sky(), last, wrong_text(st), "k1");
    }
    REQUIRE(last == t0 + 15s);
    REQUIRE(st.locked_until == t0 + 15s + 10min);
    const auto out = engine.on_stanza(st, sky(), t0 + 9min);
    CHECK(out.what == stranger_outcome::kind::locked_out);
    CHECK(out.until == t0 + 9min + 10min);  // reset, not the original end
    // An answer during the lockout too.
    CHECK(engine.on_answer(st, sky(), t0 + 18min, "1", "k1").what == answer_outcome::kind::locked_out);
    CHECK(st.locked_until == t0 + 28min);
}

TEST_CASE("3l-q: after the long interval, a wrong answer in human time rechallenges, a right one passes") {
    challenge_engine engine(4);
    sender_state st;
    engine.on_stanza(st, sky(), t0);
    for (int i = 0; i < 3; ++i) {
        engine.on_answer(st, sky(), st.challenged_at + 5s, wrong_text(st), "k1");
    }
    const auto later = st.locked_until + 1s;
    CHECK(engine.on_stanza(st, sky(), later).what == stranger_outcome::kind::challenge);  // m
    const auto offered = st.offered;
    const auto wrong = engine.on_answer(st, sky(), later + 20s, wrong_text(st), "k1");    // n-o
    CHECK(wrong.what == answer_outcome::kind::wrong);
    CHECK(st.offered != offered);
    SUBCASE("q: by number") {
        CHECK(engine.on_answer(st, sky(), st.challenged_at + 20s, good_number(st), "k1").what ==
              answer_outcome::kind::pass);
    }
    SUBCASE("q: by text, any case and spacing") {
        CHECK(engine.on_answer(st, sky(), st.challenged_at + 20s, "  BLUE ", "k1").what == answer_outcome::kind::pass);
    }
    CHECK(st.approved_key == "k1");
    CHECK(st.challenge_id.empty());
    CHECK(st.lockouts == 0);  // a pass forgets the history
}

TEST_CASE("lockouts grow by the factor, then the sender is blocked for good") {
    challenge_engine engine(5);
    sender_state st;
    auto now = t0;
    const std::chrono::minutes expected[] = {10min, 100min, 1000min, 10000min};
    for (int round = 0; round < 4; ++round) {
        engine.on_stanza(st, sky(), now);
        answer_outcome out;
        for (int i = 0; i < 3; ++i) {
            now = st.challenged_at + 5s;
            out = engine.on_answer(st, sky(), now, wrong_text(st), "k1");
        }
        REQUIRE(out.what == answer_outcome::kind::locked_out);
        CHECK(out.until - now == expected[round]);
        now = st.locked_until + 1s;
    }
    engine.on_stanza(st, sky(), now);
    answer_outcome out;
    for (int i = 0; i < 3; ++i) {
        out = engine.on_answer(st, sky(), st.challenged_at + 5s, wrong_text(st), "k1");
    }
    CHECK(out.what == answer_outcome::kind::blocked);
    CHECK(st.blocked);
    CHECK(engine.on_stanza(st, sky(), now + 1000h).what == stranger_outcome::kind::blocked);
}

TEST_CASE("an answer needs an outstanding challenge and an offered answer") {
    challenge_engine engine(6);
    sender_state st;
    CHECK_FALSE(challenge_engine::looks_like_answer(st, "1"));
    CHECK(engine.on_answer(st, sky(), t0, "blue", "k1").what == answer_outcome::kind::no_challenge);
    engine.on_stanza(st, sky(), t0);
    CHECK(challenge_engine::looks_like_answer(st, "4"));
    CHECK_FALSE(challenge_engine::looks_like_answer(st, "5"));
    CHECK(challenge_engine::looks_like_answer(st, st.offered[2]));
    CHECK_FALSE(challenge_engine::looks_like_answer(st, "hello, can we talk?"));
    // As people type them: case, spaces and punctuation around the answer do not matter.
    CHECK(challenge_engine::looks_like_answer(st, " 4) "));
    CHECK(challenge_engine::looks_like_answer(st, "2."));
    std::string shouted = st.offered[1] + "!";
    std::transform(shouted.begin(), shouted.end(), shouted.begin(), [](unsigned char c) { return std::toupper(c); });
    CHECK(challenge_engine::looks_like_answer(st, shouted));
    CHECK_FALSE(challenge_engine::looks_like_answer(st, "?!"));
    // A good answer that was not offered this time does not count (bots cannot reuse an old answer list).
    challenge_settings two_good = sky();
    two_good.good_answers = {"blue", "azure"};
    sender_state st2;
    engine.on_stanza(st2, two_good, t0);
    const bool has_azure = std::count(st2.offered.begin(), st2.offered.end(), "azure") > 0;
    const auto out = engine.on_answer(st2, two_good, t0 + 10s, "azure", "k1");
    CHECK(out.what == (has_azure ? answer_outcome::kind::pass : answer_outcome::kind::wrong));
}

TEST_CASE("3r-s: the secret is bound to the sender and the key") {
    const std::string secret = sender_secret("key-1", "mallory@spam.test");
    CHECK(secret.size() == 32);
    CHECK(secret_matches("key-1", "mallory@spam.test", secret));
    CHECK_FALSE(secret_matches("key-1", "eve@spam.test", secret));  // worthless for anyone else
    CHECK_FALSE(secret_matches("key-2", "mallory@spam.test", secret));  // a new question, a new key
    CHECK_FALSE(secret_matches("key-1", "mallory@spam.test", ""));
}

TEST_CASE("the settings element round-trips the wire example") {
    const std::string example =
        "<challenge xmlns='urn:hush:antispim:0' enabled='true' strangers='challenge' min-answer-seconds='3' "
        "max-tries='3' long-interval-minutes='10' growth='10' steps='4'><question>What colour is a clear sky?"
        "</question><answer correct='true'>blue</answer><answer>green</answer><answer>red</answer>"
        "<answer>purple</answer></challenge>";
    pugi::xml_document doc;
    REQUIRE(doc.load_string(example.c_str()));
    auto parsed = parse_challenge_settings(doc.first_child());
    REQUIRE(parsed);
    CHECK(parsed->question == "What colour is a clear sky?");
    CHECK(parsed->good_answers == std::vector<std::string>{"blue"});
    CHECK(parsed->wrong_answers == std::vector<std::string>{"green", "red", "purple"});
    CHECK(parsed->min_answer == 3s);
    CHECK(parsed->long_interval == 10min);
    CHECK(parsed->strangers == stranger_mode::challenge);
    pugi::xml_document again;
    REQUIRE(again.load_string(xml_of(*parsed).c_str()));
    auto reparsed = parse_challenge_settings(again.first_child());
    REQUIRE(reparsed);
    CHECK(*reparsed == *parsed);
    CHECK(xml_of(*reparsed) ==
          "<challenge xmlns=\"urn:hush:antispim:0\" enabled=\"true\" strangers=\"challenge\" kind=\"question\" "
          "code-digits=\"4\" min-answer-seconds=\"3\" max-tries=\"3\" long-interval-minutes=\"10\" growth=\"10\" "
          "steps=\"4\" offered=\"4\"><question>What colour "
          "is a clear sky?</question><answer correct=\"true\">blue</answer><answer>green</answer><answer>red</answer>"
          "<answer>purple</answer></challenge>");
}

TEST_CASE("bad settings are refused with a reason") {
    auto error_of = [](const char* xml) {
        pugi::xml_document doc;
        REQUIRE(doc.load_string(xml));
        auto parsed = parse_challenge_settings(doc.first_child());
        REQUIRE_FALSE(parsed);
        return parsed.error();
    };
    CHECK(error_of("<challenge><question>q</question><answer>a</answer></challenge>") ==
          "at least one <answer correct='true'/> is required");
    CHECK(error_of("<challenge><question>q</question><answer correct='true'>a</answer></challenge>") ==
          "at least one wrong <answer/> is required (bots would just pick any)");
    CHECK(error_of("<challenge max-tries='0'><question>q</question></challenge>") ==
          "'max-tries' must be a whole number from 1 to 100");
    CHECK(error_of("<challenge strangers='maybe'/>") == "'strangers' must be challenge, allow or drop");
    CHECK(error_of("<challenge kind='riddle'/>") == "'kind' must be code or question");
    CHECK(error_of("<challenge kind='question'/>") == "the <question/> must not be empty");
    CHECK(error_of("<challenge code-digits='3'/>") == "'code-digits' must be a whole number from 4 to 12");
    CHECK(error_of("<challenge><question>q</question><answer correct='true'>A</answer><answer>a</answer></challenge>")
              .ends_with("is both a good and a wrong answer"));
}

TEST_CASE("sender state survives serialization (held across restarts)") {
    challenge_engine engine(7);
    sender_state st;
    engine.on_stanza(st, sky(), t0);
    st.tries = 2;
    st.lockouts = 1;
    st.locked_until = t0 + 10min;
    auto back = parse_sender_state(serialize_sender_state(st));
    REQUIRE(back);
    CHECK(*back == st);
}

TEST_CASE("challenge form: XEP-0158 with the offered answers, and its submission") {
    challenge_engine engine(8);
    sender_state st;
    engine.on_stanza(st, sky(), t0);
    pugi::xml_document doc;
    auto message = doc.append_child("message");
    append_captcha_form(message, "bob@example.org", st, "What colour is a clear sky?");
    const auto x = message.child("captcha").child("x");
    CHECK(std::string_view(message.child("captcha").attribute("xmlns").value()) == "urn:xmpp:captcha");
    CHECK(std::string_view(x.find_child_by_attribute("field", "var", "challenge").child("value").child_value()) ==
          st.challenge_id);
    CHECK(std::string_view(x.find_child_by_attribute("field", "var", "qa").attribute("type").value()) == "list-single");
    CHECK(std::distance(x.find_child_by_attribute("field", "var", "qa").children("option").begin(),
                        x.find_child_by_attribute("field", "var", "qa").children("option").end()) == 4);
    // The answer as a client submits it.
    pugi::xml_document submit;
    REQUIRE(submit.load_string(("<captcha xmlns='urn:xmpp:captcha'><x xmlns='jabber:x:data' type='submit'>"
                                "<field var='FORM_TYPE'><value>urn:xmpp:captcha</value></field>"
                                "<field var='challenge'><value>" + st.challenge_id + "</value></field>"
                                "<field var='qa'><value>blue</value></field></x></captcha>").c_str()));
    auto answer = parse_captcha_answer(submit.first_child());
    REQUIRE(answer);
    CHECK(answer->first == st.challenge_id);
    CHECK(answer->second == "blue");
}

TEST_CASE("format_utc") {
    CHECK(format_utc(time_point(std::chrono::seconds(1795467600))) == "2026-11-23T21:00:00Z");
}

// ---- the default: a code to type ------------------------------------------------------------------------------------

TEST_CASE("a code challenge: a new number of code_digits digits each time, nothing to pick from") {
    challenge_engine engine(11);
    sender_state st;
    CHECK(engine.on_stanza(st, code(), t0).what == stranger_outcome::kind::challenge);
    REQUIRE(st.code.size() == 4);
    CHECK(st.code.front() != '0');  // people drop a leading zero
    CHECK(std::all_of(st.code.begin(), st.code.end(), [](char c) { return c >= '0' && c <= '9'; }));
    CHECK(st.offered.empty());
    std::set<std::string> seen{st.code};
    for (int i = 0; i < 20; ++i) {
        engine.new_challenge(st, code(), t0);
        seen.insert(st.code);
    }
    CHECK(seen.size() > 15);  // drawn anew: an answer that passed once is worth nothing the next time
    auto six = code();
    six.code_digits = 6;
    engine.new_challenge(st, six, t0);
    CHECK(st.code.size() == 6);
}

TEST_CASE("a code challenge: typed digits pass, with the spaces and punctuation people type") {
    for (const char* typed : {"{}", " {} ", "{}.", "{}!"}) {
        challenge_engine engine(12);
        sender_state st;
        engine.on_stanza(st, code(), t0);
        std::string answer = typed;
        answer.replace(answer.find("{}"), 2, st.code);
        CAPTURE(answer);
        CHECK(challenge_engine::looks_like_answer(st, answer));
        CHECK(engine.on_answer(st, code(), t0 + 5s, answer, "k1").what == answer_outcome::kind::pass);
        CHECK(st.approved_key == "k1");
        CHECK(st.code.empty());
    }
    challenge_engine engine(13);
    sender_state st;
    engine.on_stanza(st, code(), t0);
    const std::string spaced = std::string(1, st.code[0]) + " " + st.code[1] + "-" + st.code.substr(2);
    CHECK(engine.on_answer(st, code(), t0 + 5s, spaced, "k1").what == answer_outcome::kind::pass);
}

TEST_CASE("a code challenge: only a reply of digits is an answer; a message is held and costs no try") {
    challenge_engine engine(14);
    sender_state st;
    CHECK_FALSE(challenge_engine::looks_like_answer(st, "1234"));  // no challenge outstanding
    engine.on_stanza(st, code(), t0);
    CHECK(challenge_engine::looks_like_answer(st, "1"));
    CHECK(challenge_engine::looks_like_answer(st, "12 34"));
    CHECK_FALSE(challenge_engine::looks_like_answer(st, "blue"));  // the old default's answer: a message, no try
    CHECK_FALSE(challenge_engine::looks_like_answer(st, "hello, are you there?"));
    CHECK_FALSE(challenge_engine::looks_like_answer(st, "call me at 555 1234"));
    CHECK_FALSE(challenge_engine::looks_like_answer(st, "?!"));
    CHECK_FALSE(challenge_engine::looks_like_answer(st, std::string(40, '1')));  // nobody types that as a number
}

TEST_CASE("a code challenge: wrong and too fast answers cost tries, each try gets a new code, then a lockout") {
    challenge_engine engine(15);
    sender_state st;
    engine.on_stanza(st, code(), t0);
    const std::string first = st.code;
    // Right digits, too fast: a try, and a new code (the old one is gone).
    CHECK(engine.on_answer(st, code(), t0 + 1s, first, "k1").what == answer_outcome::kind::too_fast);
    CHECK(st.tries == 1);
    REQUIRE(st.code.size() == 4);
    const std::string wrong = st.code == "1000" ? "1001" : "1000";
    CHECK(engine.on_answer(st, code(), st.challenged_at + 5s, wrong, "k1").what == answer_outcome::kind::wrong);
    const auto out = engine.on_answer(st, code(), st.challenged_at + 5s, wrong, "k1");
    CHECK(out.what == answer_outcome::kind::locked_out);
    CHECK(st.code.empty());
    CHECK(st.lockouts == 1);
}

TEST_CASE("a code challenge: the settings and the outstanding code survive serialization") {
    pugi::xml_document doc;
    REQUIRE(doc.load_string("<challenge xmlns='urn:hush:antispim:0' kind='code' code-digits='6'/>"));
    auto parsed = parse_challenge_settings(doc.first_child());
    REQUIRE(parsed);
    CHECK(parsed->kind == challenge_kind::code);
    CHECK(parsed->code_digits == 6);
    pugi::xml_document again;
    REQUIRE(again.load_string(xml_of(*parsed).c_str()));
    auto reparsed = parse_challenge_settings(again.first_child());
    REQUIRE(reparsed);
    CHECK(*reparsed == *parsed);
    // Settings stored before the kinds (a question, no kind) stay a question.
    pugi::xml_document old;
    REQUIRE(old.load_string("<challenge><question>q</question><answer correct='true'>a</answer><answer>b</answer>"
                            "</challenge>"));
    CHECK(parse_challenge_settings(old.first_child())->kind == challenge_kind::question);
    CHECK(parse_challenge_settings(pugi::xml_document().append_child("challenge"))->kind == challenge_kind::code);

    challenge_engine engine(16);
    sender_state st;
    engine.on_stanza(st, code(), t0);
    auto back = parse_sender_state(serialize_sender_state(st));
    REQUIRE(back);
    CHECK(*back == st);
    CHECK(back->code == st.code);
}

TEST_CASE("a code challenge's form: a text-single field labelled with the spelled-out number (XEP-0158)") {
    challenge_engine engine(17);
    sender_state st;
    engine.on_stanza(st, code(), t0);
    pugi::xml_document doc;
    auto message = doc.append_child("message");
    append_captcha_form(message, "bob@example.org", st, "Please reply with this number, written in digits: one two");
    const auto qa = message.child("captcha").child("x").find_child_by_attribute("field", "var", "qa");
    CHECK(std::string_view(qa.attribute("type").value()) == "text-single");
    CHECK(std::string_view(qa.attribute("label").value()) ==
          "Please reply with this number, written in digits: one two");
    CHECK_FALSE(qa.child("option"));
    CHECK(qa.child("required"));
}
