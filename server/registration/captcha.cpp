#include "server/registration/captcha.hpp"

#include <array>
#include <cstring>

#include "protocol/scram.hpp"

namespace hush {

namespace {

constexpr std::array<const char*, 10> digit_words{"zero", "one", "two",   "three", "four",
                                                  "five", "six", "seven", "eight", "nine"};

// Leading and trailing white space off: what a person types around a number is no mistake.
std::string trimmed(const std::string& s) {
    const auto first = s.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) {
        return {};
    }
    const auto last = s.find_last_not_of(" \t\r\n");
    return s.substr(first, last - first + 1);
}

}  // namespace

captcha_book::captcha_book(std::size_t max_open, std::chrono::seconds lifetime, std::size_t max_per_address)
    : max_open_(max_open), lifetime_(lifetime), max_per_address_(max_per_address) {}

void captcha_book::forget(std::unordered_map<std::string, entry>::iterator it) {
    if (auto a = by_address_.find(it->second.address); a != by_address_.end()) {
        std::erase(a->second, it->first);
        if (a->second.empty()) {
            by_address_.erase(a);
        }
    }
    open_.erase(it);
}

std::pair<std::string, std::string> captcha_book::question_for(unsigned value) {
    const unsigned a = 2 + value % 8;          // 2..9
    const unsigned b = 2 + (value / 8) % 8;    // 2..9
    const bool plus = ((value / 64) % 2) == 0 || a <= b;  // never a negative answer
    std::string question = std::string("What is ") + digit_words[a] + (plus ? " plus " : " minus ") + digit_words[b] +
                           "? Answer in digits.";
    const unsigned result = plus ? a + b : a - b;
    return {std::move(question), std::to_string(result)};
}

void captcha_book::sweep(clock::time_point now) {
    while (!order_.empty() && (now - order_.front().second >= lifetime_ || open_.size() > max_open_)) {
        auto it = open_.find(order_.front().first);
        if (it != open_.end() && it->second.issued == order_.front().second) {
            forget(it);
        }
        order_.pop_front();
    }
    // Answered challenges leave stale entries in order_; they go with time, but never let them pile up.
    if (order_.size() > 2 * max_open_ + 16) {
        std::erase_if(order_, [&](const auto& e) { return !open_.contains(e.first); });
    }
}

captcha_book::challenge captcha_book::issue(const std::string& address, clock::time_point now) {
    unsigned value = 0;
    const std::string raw = sasl::random_bytes(sizeof value);
    std::memcpy(&value, raw.data(), sizeof value);
    auto [question, expected] = question_for(value);
    challenge c{sasl::random_hex(12), std::move(question)};
    std::lock_guard lock(mutex_);
    if (auto a = by_address_.find(address); a != by_address_.end() && a->second.size() >= max_per_address_) {
        if (auto oldest = open_.find(a->second.front()); oldest != open_.end()) {
            forget(oldest);
        }
    }
    open_[c.id] = entry{std::move(expected), now, address};
    by_address_[address].push_back(c.id);
    order_.emplace_back(c.id, now);
    sweep(now);
    return c;
}

bool captcha_book::answer(const std::string& id, const std::string& given, clock::time_point now) {
    std::lock_guard lock(mutex_);
    sweep(now);
    auto it = open_.find(id);
    if (it == open_.end()) {
        return false;
    }
    const std::string expected = std::move(it->second.expected);
    forget(it);  // one answer per challenge, right or wrong
    const std::string answer = trimmed(given);
    return answer.size() == expected.size() && sasl::constant_time_equal(answer, expected);
}

std::size_t captcha_book::open_challenges() {
    std::lock_guard lock(mutex_);
    return open_.size();
}

}  // namespace hush
