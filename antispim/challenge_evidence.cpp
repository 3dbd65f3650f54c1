#include "antispim/challenge_evidence.hpp"

#include <algorithm>

namespace hush::antispim {

challenge_evidence::challenge_evidence(std::chrono::seconds window, std::size_t max_keys,
                                       std::atomic<std::uint64_t>* evictions)
    : window_(window), keys_(max_keys, evictions) {}

void challenge_evidence::expire(std::vector<answer>& answers, time_point now) const {
    std::erase_if(answers, [&](const answer& a) { return now - a.at > window_; });
}

void challenge_evidence::record(const std::string& key, const std::string& sender, bool failed, time_point now) {
    std::lock_guard lock(mutex_);
    auto& answers = keys_.try_emplace(key).first;
    expire(answers, now);
    std::erase_if(answers, [&](const answer& a) { return a.sender == sender; });
    if (answers.size() >= max_senders_per_key) {
        answers.erase(answers.begin());  // the oldest: kept in the order recorded
    }
    answers.push_back(answer{sender, failed, now});
}

challenge_evidence::tally challenge_evidence::of(const std::string& key, time_point now) {
    std::lock_guard lock(mutex_);
    tally t;
    auto* answers = keys_.find(key);
    if (answers == nullptr) {
        return t;
    }
    expire(*answers, now);
    for (const auto& a : *answers) {
        ++(a.failed ? t.failed : t.passed);
    }
    return t;
}

}  // namespace hush::antispim
