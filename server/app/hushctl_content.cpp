#include "server/app/hushctl_content.hpp"

#include "server/app/hushctl_common.hpp"

#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>

#include "antispim/bayes.hpp"
#include "server/stream/certificate.hpp"

namespace hush {

namespace {

using hushctl::fail;

int train(const config& cfg, storage::store& store, bool spam, const std::string& file) {
    // The same key hushd hashes tokens with, or the lessons would never match what it scores.
    const std::string key = ensure_server_secret(cfg.data_dir / "secret");
    std::ifstream in;
    if (file != "-") {
        in.open(file);
        if (!in) {
            return fail("cannot read " + file);
        }
    }
    std::istream& lines = file == "-" ? std::cin : in;
    std::string line;
    std::size_t learnt = 0;
    std::size_t skipped = 0;
    while (std::getline(lines, line)) {
        const auto tokens = antispim::hashed_tokens(key, line);
        if (tokens.size() <= 2) {  // the shape tokens only: a line without words
            ++skipped;
            continue;
        }
        if (auto stored = store.train_content(spam, tokens, static_cast<std::int64_t>(std::time(nullptr)),
                                              cfg.antispim.content.bayes_max_tokens);
            !stored) {
            return fail(stored.error().message);
        }
        ++learnt;
    }
    std::printf("learnt %zu %s message(s)%s\n", learnt, spam ? "spam" : "ham",
                skipped > 0 ? (", skipped " + std::to_string(skipped) + " line(s) without words").c_str() : "");
    return 0;
}

}  // namespace

int run_content_command(const config& cfg, storage::store& store, const std::vector<std::string>& args) {
    const std::string sub = args.size() > 1 ? args[1] : "";
    if (sub == "train" && args.size() == 4 && (args[2] == "spam" || args[2] == "ham")) {
        return train(cfg, store, args[2] == "spam", args[3]);
    }
    if (sub == "stats" && args.size() == 2) {
        const auto max = cfg.antispim.content.bayes_max_tokens;
        auto model = store.load_content_model(max);
        if (!model) {
            return fail(model.error().message);
        }
        const auto min = cfg.antispim.content.bayes_min_messages;
        const bool trained = model->spam_messages >= static_cast<std::int64_t>(min) &&
                             model->ham_messages >= static_cast<std::int64_t>(min);
        std::printf("spam messages: %lld\nham messages: %lld\ntokens: %zu%s\nscoring: %s\n",
                    static_cast<long long>(model->spam_messages), static_cast<long long>(model->ham_messages),
                    model->tokens.size(), model->tokens.size() >= max ? " (at bayes_max_tokens)" : "",
                    !cfg.antispim.content.bayes ? "no ([antispim.content] bayes = false)"
                    : trained ? "yes"
                              : ("not yet: it needs " + std::to_string(min) + " messages of each class").c_str());
        return 0;
    }
    if (sub == "reset" && args.size() == 2) {
        if (auto done = store.reset_content(); !done) {
            return fail(done.error().message);
        }
        std::printf("the content classifier forgot everything\n");
        return 0;
    }
    return 2;
}

}  // namespace hush
