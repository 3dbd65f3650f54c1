#pragma once
// The content policy's built-in naive Bayes classifier (Robinson's token probabilities, combined with Fisher's
// chi-square as SpamBayes does). It learns from what users judge: reported and rejected message requests are
// spam, released ones and what users write to new contacts are ham. Words are kept only as keyed 64-bit hashes
// (the key is the server's secret), so neither memory nor storage holds message text.
//
// Until it has learnt from `min_messages` messages of each class it scores nothing and says so: an untrained
// filter guessing would be worse than none.
#include <cstdint>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "storage/records.hpp"

namespace hush::antispim {

// The tokens of a text: words of 2–30 bytes, ASCII letters lower-cased (bytes of UTF-8 sequences are word bytes), numbers by
// their length, the host of every link and its parent domains, and a few shape tokens. Each once.
std::vector<std::string> content_tokens(std::string_view text);
// The keyed hash of each distinct token, as stored.
std::vector<std::int64_t> hashed_tokens(std::string_view key, std::string_view text);

struct bayes_score {
    bool trained = false;
    double probability = 0.5;  // of spam, 0..1
    std::size_t tokens_used = 0;  // the tokens that said something (far enough from 0.5)
};

struct bayes_stats {
    std::int64_t spam_messages = 0;
    std::int64_t ham_messages = 0;
    std::size_t tokens = 0;  // in memory
    std::size_t min_messages = 0;
    bool trained() const {
        return spam_messages >= static_cast<std::int64_t>(min_messages) &&
               ham_messages >= static_cast<std::int64_t>(min_messages);
    }
};

class bayes_model {
public:
    // `max_tokens` bounds the tokens kept in memory (storage keeps as many; see store::train_content).
    bayes_model(std::size_t min_messages, std::size_t max_tokens);

    // Replaces the model with what storage holds.
    void load(const storage::content_model& stored);
    // Learns one message (its hashed tokens) in memory; storage is written by the caller.
    void learn(bool spam, const std::vector<std::int64_t>& tokens);
    bayes_score score(const std::vector<std::int64_t>& tokens) const;
    bayes_stats stats() const;
    std::size_t max_tokens() const { return max_tokens_; }

    // The most telling tokens a score combines.
    static constexpr std::size_t max_clues = 150;

private:
    struct counts {
        std::int64_t spam = 0;
        std::int64_t ham = 0;
    };
    const std::size_t min_messages_;
    const std::size_t max_tokens_;
    mutable std::shared_mutex mutex_;
    std::unordered_map<std::int64_t, counts> tokens_;
    std::int64_t spam_messages_ = 0;
    std::int64_t ham_messages_ = 0;
};

}  // namespace hush::antispim
