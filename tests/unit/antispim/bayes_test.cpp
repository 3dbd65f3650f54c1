// The built-in Bayes classifier: tokens, keyed hashes, neutral until trained, and telling a generated spam corpus
// from a generated ham one it never saw.
#include <doctest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "antispim/bayes.hpp"

using namespace hush;
using namespace hush::antispim;

namespace {

bool has(const std::vector<std::string>& tokens, const std::string& t) {
    return std::find(tokens.begin(), tokens.end(), t) != tokens.end();
}

// Messages from word pools: spam and ham share common words, each has its own, and every message differs.
struct corpus {
    std::mt19937 random;
    explicit corpus(unsigned seed) : random(seed) {}
    std::string pick(const std::vector<std::string>& pool) {
        return pool[std::uniform_int_distribution<std::size_t>(0, pool.size() - 1)(random)];
    }
    std::string message(bool spam) {
        static const std::vector<std::string> common{"hi", "the", "you", "today", "please", "and", "this", "is"};
        static const std::vector<std::string> spammy{"bitcoin", "profit", "guaranteed", "click", "winner", "free",
                                                     "investment", "double", "crypto", "lonely", "pharmacy", "offer"};
        static const std::vector<std::string> hammy{"meeting", "lunch", "project", "tomorrow", "slides", "review",
                                                    "thanks", "draft", "call", "budget", "team", "agenda"};
        static const std::vector<std::string> spam_links{"https://x1.coin-win.test/r?id=", "http://pharma.test/buy/"};
        static const std::vector<std::string> ham_links{"https://docs.example.org/d/", "https://wiki.example.org/p/"};
        std::string out;
        const int words = std::uniform_int_distribution<int>(5, 14)(random);
        for (int i = 0; i < words; ++i) {
            const bool own = std::bernoulli_distribution(0.5)(random);
            out += (own ? pick(spam ? spammy : hammy) : pick(common)) + " ";
        }
        if (std::bernoulli_distribution(0.4)(random)) {
            out += pick(spam ? spam_links : ham_links) + std::to_string(random() % 100000);
        }
        return out;
    }
};

}  // namespace

TEST_CASE("tokens: lower-cased words, numbers by length, linked hosts and their parents, each once") {
    const auto tokens = content_tokens("Hello hello WORLD 12345 see https://Promo.Spam.Example/x?y=1 or www.other.test a");
    CHECK(has(tokens, "hello"));
    CHECK(has(tokens, "world"));
    CHECK(std::count(tokens.begin(), tokens.end(), "hello") == 1);
    CHECK(has(tokens, "num:5"));
    CHECK(has(tokens, "host:promo.spam.example"));
    CHECK(has(tokens, "host:spam.example"));
    CHECK_FALSE(has(tokens, "host:example"));
    CHECK(has(tokens, "host:other.test"));
    CHECK(has(tokens, "links:2"));
    CHECK_FALSE(has(tokens, "a"));  // too short to say anything
    // UTF-8 words are words.
    CHECK(has(content_tokens("привет мир"), "привет"));  // only ASCII letters are lower-cased
}

TEST_CASE("token hashes are keyed: another server's key gives other hashes") {
    const auto a = hashed_tokens("key-one", "free bitcoin today");
    const auto b = hashed_tokens("key-two", "free bitcoin today");
    CHECK(a.size() == content_tokens("free bitcoin today").size());
    CHECK(a != b);
    CHECK(a == hashed_tokens("key-one", "TODAY free   bitcoin"));  // same words, same hashes
}

TEST_CASE("an untrained model scores nothing and says so") {
    bayes_model model(3, 1000);
    const auto tokens = hashed_tokens("k", "free bitcoin");
    model.learn(true, tokens);
    model.learn(true, tokens);
    model.learn(true, tokens);
    model.learn(false, hashed_tokens("k", "lunch tomorrow"));
    const auto s = model.score(tokens);
    CHECK_FALSE(s.trained);
    CHECK(s.probability == doctest::Approx(0.5));
    CHECK(model.stats().spam_messages == 3);
    CHECK(model.stats().ham_messages == 1);
    CHECK_FALSE(model.stats().trained());
}

TEST_CASE("trained on one generated corpus, it tells spam from ham in another") {
    const std::string key = "server-secret";
    bayes_model model(20, 100000);
    corpus training(1);
    for (int i = 0; i < 200; ++i) {
        model.learn(true, hashed_tokens(key, training.message(true)));
        model.learn(false, hashed_tokens(key, training.message(false)));
    }
    REQUIRE(model.stats().trained());
    corpus test_set(2);
    int spam_caught = 0;
    int ham_flagged = 0;
    constexpr int n = 200;
    for (int i = 0; i < n; ++i) {
        spam_caught += model.score(hashed_tokens(key, test_set.message(true))).probability > 0.9 ? 1 : 0;
        ham_flagged += model.score(hashed_tokens(key, test_set.message(false))).probability > 0.5 ? 1 : 0;
    }
    CHECK(spam_caught >= n * 95 / 100);
    CHECK(ham_flagged <= n / 100);
    // Words it never saw leave it unsure.
    const auto unknown = model.score(hashed_tokens(key, "zebra quantum marmalade"));
    CHECK(unknown.probability > 0.2);
    CHECK(unknown.probability < 0.8);
}

TEST_CASE("memory keeps at most max_tokens; load replaces the model") {
    bayes_model model(1, 5);
    model.learn(true, {1, 2, 3, 4, 5, 6, 7, 8});
    CHECK(model.stats().tokens == 5);
    storage::content_model stored;
    stored.spam_messages = 4;
    stored.ham_messages = 2;
    stored.tokens = {{10, 4, 0}, {11, 0, 2}};
    model.load(stored);
    CHECK(model.stats().tokens == 2);
    CHECK(model.stats().spam_messages == 4);
    CHECK(model.score({10}).probability > 0.5);
    CHECK(model.score({11}).probability < 0.5);
}
