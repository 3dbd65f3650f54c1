#pragma once
// The XEP-0158 question/answer CAPTCHA of open registration: a small sum in words ("What is four plus nine?"),
// answered in digits. A challenge is issued with the registration form and answered once: right or wrong, it is
// gone, so every guess costs a new form. Thread-safe; bounded (the oldest challenge goes when full) and swept; one
// address holds at most max_per_address open challenges (its oldest goes), so one address cannot push everyone
// else's out.
#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

namespace hush {

class captcha_book {
public:
    using clock = std::chrono::steady_clock;

    struct challenge {
        std::string id;        // the form's hidden 'challenge' field
        std::string question;  // the 'qa' field's label
    };

    explicit captcha_book(std::size_t max_open = 10000, std::chrono::seconds lifetime = std::chrono::minutes{10},
                          std::size_t max_per_address = 3);

    // A new challenge for a client at `address`.
    challenge issue(const std::string& address, clock::time_point now = clock::now());
    // True only for the right answer to a challenge issued within its lifetime; the challenge is used up either way.
    bool answer(const std::string& id, const std::string& given, clock::time_point now = clock::now());

    std::size_t open_challenges();

    // For tests: the question and answer issue() would make for this random value.
    static std::pair<std::string, std::string> question_for(unsigned value);

private:
    struct entry {
        std::string expected;
        clock::time_point issued;
        std::string address;
    };
    void sweep(clock::time_point now);
    // Drops an open challenge, from both maps.
    void forget(std::unordered_map<std::string, entry>::iterator it);

    std::size_t max_open_;
    std::chrono::seconds lifetime_;
    std::size_t max_per_address_;
    std::mutex mutex_;
    std::unordered_map<std::string, entry> open_;
    std::unordered_map<std::string, std::deque<std::string>> by_address_;  // open challenge ids, oldest first
    std::deque<std::pair<std::string, clock::time_point>> order_;  // issue order, for sweeping and eviction
};

}  // namespace hush
