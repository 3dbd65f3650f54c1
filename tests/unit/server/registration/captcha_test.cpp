// The registration CAPTCHA: questions and their answers, one answer per challenge, expiry, the bound.
#include <doctest.h>

#include <chrono>
#include <set>
#include <string>

#include "server/registration/captcha.hpp"

using namespace hush;
using namespace std::chrono_literals;

namespace {

// The answer to a question issue() made, worked out from its words as a person would.
std::string solve(const std::string& question) {
    static const char* words[] = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"};
    auto number = [&](std::size_t at) {
        for (int i = 0; i < 10; ++i) {
            if (question.compare(at, std::string(words[i]).size(), words[i]) == 0) {
                return i;
            }
        }
        FAIL("no number at " << at << " in " << question);
        return -1;
    };
    const std::size_t first = std::string("What is ").size();
    const int a = number(first);
    const bool plus = question.find(" plus ") != std::string::npos;
    const std::size_t second = question.find(plus ? " plus " : " minus ") + (plus ? 6 : 7);
    const int b = number(second);
    return std::to_string(plus ? a + b : a - b);
}

}  // namespace

TEST_CASE("captcha questions: small sums in words, never negative") {
    std::set<std::string> questions;
    for (unsigned v = 0; v < 128; ++v) {
        const auto made = captcha_book::question_for(v);
        const std::string& question = made.first;
        const std::string& answer = made.second;
        CAPTURE(question);
        CHECK(question.starts_with("What is "));
        CHECK(question.ends_with("? Answer in digits."));
        CHECK(solve(question) == answer);
        CHECK(std::stoi(answer) >= 0);
        questions.insert(question);
    }
    CHECK(questions.size() > 60);  // enough variety that one answer does not fit all
}

TEST_CASE("captcha: the right answer passes once; a wrong one uses the challenge up") {
    captcha_book book;
    const auto c = book.issue("192.0.2.1");
    CHECK(c.id.size() == 24);
    CHECK(book.answer(c.id, " " + solve(c.question) + "\n"));  // white space around is forgiven
    CHECK_FALSE(book.answer(c.id, solve(c.question)));           // not twice

    const auto d = book.issue("192.0.2.1");
    CHECK_FALSE(book.answer(d.id, solve(d.question) + "0"));
    CHECK_FALSE(book.answer(d.id, solve(d.question)));  // the wrong guess used it up
    CHECK_FALSE(book.answer("unknown", "4"));
    CHECK(book.open_challenges() == 0);
}

TEST_CASE("captcha: challenges expire, and the book is bounded (the oldest goes)") {
    using clock = captcha_book::clock;
    const clock::time_point t0{std::chrono::hours(24 * 365)};
    captcha_book book(3, 10min);
    const auto old = book.issue("192.0.2.1", t0);
    CHECK_FALSE(book.answer(old.id, solve(old.question), t0 + 10min));

    const auto a = book.issue("192.0.2.1", t0);
    const auto b = book.issue("192.0.2.2", t0);
    const auto c = book.issue("192.0.2.3", t0);
    const auto d = book.issue("192.0.2.4", t0);  // the book holds 3: a goes
    CHECK(book.open_challenges() == 3);
    CHECK_FALSE(book.answer(a.id, solve(a.question), t0));
    CHECK(book.answer(b.id, solve(b.question), t0));
    CHECK(book.answer(d.id, solve(d.question), t0));
    CHECK(book.open_challenges() == 1);
    (void)c;
}

TEST_CASE("captcha: one address holds a few open challenges; its oldest goes, others' stay") {
    captcha_book book(100, 10min, 2);
    const auto other = book.issue("198.51.100.1");
    const auto first = book.issue("192.0.2.1");
    const auto second = book.issue("192.0.2.1");
    const auto third = book.issue("192.0.2.1");  // first goes
    CHECK(book.open_challenges() == 3);
    CHECK_FALSE(book.answer(first.id, solve(first.question)));
    CHECK(book.answer(third.id, solve(third.question)));
    CHECK(book.answer(second.id, solve(second.question)));
    CHECK(book.answer(other.id, solve(other.question)));
    CHECK(book.open_challenges() == 0);
}
