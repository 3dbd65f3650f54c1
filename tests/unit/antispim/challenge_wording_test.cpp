// What the Bot Challenge says: the first line naming the server, the question with numbered answers, the feedback
// for each outcome in plain words, lengths people read, and the language chosen by xml:lang.
#include <doctest.h>

#include "antispim/challenge_wording.hpp"

using namespace hush::antispim;
using namespace std::chrono_literals;

namespace {

challenge_settings sky() {
    challenge_settings s;
    s.kind = challenge_kind::question;
    s.question = "What colour is a clear sky?";
    s.good_answers = {"blue"};
    s.wrong_answers = {"green", "red", "purple"};
    s.max_tries = 3;
    return s;
}

sender_state offered(unsigned tries) {
    sender_state st;
    st.challenge_id = "c1";
    st.offered = {"green", "blue", "red", "purple"};
    st.tries = tries;
    return st;
}

const speaker bob{"example.org", "bob@example.org"};
const time_point t0 = time_point(std::chrono::seconds(1'800'000'000));  // 2027-01-15 08:00:00 UTC

}  // namespace

TEST_CASE("the question: first line names the server, then the question and numbered answers, one per line") {
    const challenge_texts texts;
    const std::string body = challenge_body(texts, bob, sky(), offered(0), challenge_feedback::none);
    CHECK(body ==
          "Automatic reply from example.org, on behalf of bob@example.org:\n"
          "bob@example.org only receives messages from people they know. Your message is kept and will be delivered "
          "as soon as you answer this question:\n"
          "What colour is a clear sky?\n"
          "1) green\n2) blue\n3) red\n4) purple\n"
          "Reply with the number or the words of your answer.");
}

TEST_CASE("the default question: the code spelled out digit by digit, to be typed in digits") {
    challenge_texts texts;
    sender_state st;
    st.challenge_id = "c1";
    st.code = "7402";
    const challenge_settings code;  // the default kind
    CHECK(challenge_body(texts, bob, code, st, challenge_feedback::none) ==
          "Automatic reply from example.org, on behalf of bob@example.org:\n"
          "bob@example.org only receives messages from people they know. Your message is kept and will be delivered "
          "as soon as you answer this question:\n"
          "Please reply with this number, written in digits: seven four zero two");
    CHECK(challenge_question(texts, bob, code, st) == "Please reply with this number, written in digits: seven four zero two");
    // Another language's digit words.
    texts.code_question = "Bitte antworten Sie mit dieser Zahl in Ziffern: {code}";
    texts.digits = "null eins zwei drei vier fünf sechs sieben acht neun";
    CHECK(challenge_question(texts, bob, code, st) == "Bitte antworten Sie mit dieser Zahl in Ziffern: sieben vier null zwei");
    // A question of the receiver's own is asked as it is.
    CHECK(challenge_question(texts, bob, sky(), offered(0)) == "What colour is a clear sky?");
}

TEST_CASE("feedback: too fast and wrong say so and count the tries left") {
    const challenge_texts texts;
    const std::string fast = challenge_body(texts, bob, sky(), offered(1), challenge_feedback::too_fast);
    CHECK(fast.find("\nThat was too fast: take a moment to read the question. 2 tries left.\nWhat colour") !=
          std::string::npos);
    CHECK(fast.find("only receives messages") == std::string::npos);
    const std::string wrong = challenge_body(texts, bob, sky(), offered(2), challenge_feedback::wrong);
    CHECK(wrong.find("\nThat is not right; 1 try left.\n") != std::string::npos);
    CHECK(wrong.find("4) purple") != std::string::npos);
}

TEST_CASE("lockout: how long in words, with the UTC end (rounded up) as a detail") {
    const challenge_texts texts;
    CHECK(lockout_body(texts, bob, t0, t0 + 10min + 29s) ==
          "Automatic reply from example.org, on behalf of bob@example.org:\n"
          "Too many wrong answers. Please wait 11 minutes before you write to bob@example.org again (until "
          "2027-01-15 08:11 UTC); anything you send earlier starts the wait over.");
    CHECK(lockout_sentence(texts, bob, t0, t0 + 10min).find("wait 10 minutes") != std::string::npos);
    CHECK(lockout_sentence(texts, bob, t0, t0 + 10min).find("(until 2027-01-15 08:10 UTC)") != std::string::npos);
}

TEST_CASE("durations read as people say them") {
    const challenge_texts texts;
    CHECK(duration_words(texts, 0s) == "1 minute");
    CHECK(duration_words(texts, 60s) == "1 minute");
    CHECK(duration_words(texts, 61s) == "2 minutes");
    CHECK(duration_words(texts, 100min) == "100 minutes");
    CHECK(duration_words(texts, 1000min) == "17 hours");
    CHECK(duration_words(texts, 10000min) == "7 days");
    CHECK(duration_words(texts, 1h + 1min) == "61 minutes");
}

TEST_CASE("approval: short, no jargon, no secret in the sentence") {
    const std::string body = approval_body(challenge_texts{}, bob);
    CHECK(body ==
          "Automatic reply from example.org, on behalf of bob@example.org:\n"
          "Thank you, that is right. Your messages now reach bob@example.org, and those you sent before are "
          "delivered too.");
}

TEST_CASE("dropped requests: counted in words") {
    const challenge_texts texts;
    CHECK(dropped_body(texts, bob, 1).find("\n1 message you sent to bob@example.org could not be kept") !=
          std::string::npos);
    CHECK(dropped_body(texts, bob, 3).find("\n3 messages you sent") != std::string::npos);
}

TEST_CASE("fill replaces known placeholders and leaves others visible") {
    CHECK(fill("{a} and {b}", {{"a", "1"}, {"b", "2"}}) == "1 and 2");
    CHECK(fill("{a} {c} {", {{"a", "x"}}) == "x {c} {");
    CHECK(fill("", {}) == "");
}

TEST_CASE("placeholders are checked against what each text may use") {
    CHECK_FALSE(unknown_placeholder("wait {wait} until {until}", "server receiver wait until"));
    CHECK(unknown_placeholder("{tries_left}", "server receiver") == std::optional<std::string>("{tries_left}"));
    CHECK(unknown_placeholder("oops {", "n") == std::optional<std::string>("{"));
    CHECK(unknown_placeholder("{}", "n") == std::optional<std::string>("{}"));
    CHECK_FALSE(unknown_placeholder("no braces", ""));
}

TEST_CASE("the language follows xml:lang: exact tag, then primary subtag, else the default") {
    challenge_wording wording;
    challenge_texts german;
    german.wrong = "Das stimmt nicht; noch {tries_left}.";
    wording.languages["de"] = german;
    challenge_texts brazilian;
    brazilian.wrong = "Não está certo.";
    wording.languages["pt-br"] = brazilian;
    CHECK(texts_for(wording, "de").language == "de");
    CHECK(texts_for(wording, "DE-at").language == "de");
    CHECK(texts_for(wording, "de-AT").texts.wrong == german.wrong);
    CHECK(texts_for(wording, "pt-BR").language == "pt-br");
    CHECK(texts_for(wording, "pt").language == "en");
    CHECK(texts_for(wording, "").language == "en");
    CHECK(texts_for(wording, "fr").texts == challenge_texts{});
}
