#include "antispim/bayes.hpp"
#include "protocol/ascii.hpp"
#include "antispim/url_lists.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <mutex>
#include <set>

namespace hush::antispim {

namespace {

bool word_byte(unsigned char c) { return std::isalnum(c) != 0 || c >= 0x80 || c == '\''; }

// Fisher's inverse chi-square for even degrees of freedom: P(chi2 >= x2).
double chi2q(double x2, std::size_t v) {
    const double m = x2 / 2.0;
    double term = std::exp(-m);
    double sum = term;
    for (std::size_t i = 1; i < v / 2; ++i) {
        term *= m / static_cast<double>(i);
        sum += term;
    }
    return std::min(sum, 1.0);
}

}  // namespace

std::vector<std::string> content_tokens(std::string_view text) {
    std::set<std::string> out;
    // Each linked host and its parent domains of two labels or more: new subdomains of one spam domain still share
    // its token. The link's words (path, query) are words like any other.
    const auto hosts = linked_hosts(text);
    for (const auto& host : hosts) {
        for (std::size_t dot = std::string::npos;;) {
            const std::string domain = dot == std::string::npos ? host : host.substr(dot + 1);
            if (domain.find('.') == std::string::npos) {
                break;
            }
            out.insert("host:" + domain);
            dot = host.find('.', dot == std::string::npos ? 0 : dot + 1);
            if (dot == std::string::npos) {
                break;
            }
        }
    }
    std::size_t words = 0;
    std::size_t i = 0;
    while (i < text.size()) {
        if (!word_byte(static_cast<unsigned char>(text[i]))) {
            ++i;
            continue;
        }
        std::size_t end = i;
        while (end < text.size() && word_byte(static_cast<unsigned char>(text[end]))) {
            ++end;
        }
        const std::string word = ascii_lower(text.substr(i, end - i));
        i = end;
        ++words;
        if (std::all_of(word.begin(), word.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
            out.insert("num:" + std::to_string(std::min<std::size_t>(word.size(), 12)));
        } else if (word.size() > 30) {
            out.insert("long:" + std::to_string(word.size() / 10));
        } else if (word.size() >= 2) {
            out.insert(word);
        }
    }
    // Shape: how long, whether it links.
    out.insert("words:" + std::to_string(words < 4 ? words : words < 16 ? 4 : words < 64 ? 16 : 64));
    out.insert("links:" + std::to_string(std::min<std::size_t>(hosts.size(), 3)));
    return {out.begin(), out.end()};
}

std::vector<std::int64_t> hashed_tokens(std::string_view key, std::string_view text) {
    std::vector<std::int64_t> out;
    const auto tokens = content_tokens(text);
    out.reserve(tokens.size());
    std::string input(key);
    input.push_back('\0');
    const std::size_t prefix = input.size();
    for (const auto& token : tokens) {
        input.resize(prefix);
        input += token;
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned int length = 0;
        if (EVP_Digest(input.data(), input.size(), digest, &length, EVP_sha256(), nullptr) != 1 || length < 8) {
            continue;
        }
        std::uint64_t h = 0;
        std::memcpy(&h, digest, sizeof h);
        out.push_back(static_cast<std::int64_t>(h));
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

bayes_model::bayes_model(std::size_t min_messages, std::size_t max_tokens)
    : min_messages_(min_messages), max_tokens_(max_tokens) {}

void bayes_model::load(const storage::content_model& stored) {
    std::unordered_map<std::int64_t, counts> fresh;
    fresh.reserve(std::min(stored.tokens.size(), max_tokens_));
    for (const auto& t : stored.tokens) {
        if (fresh.size() >= max_tokens_) {
            break;
        }
        fresh[t.token] = counts{t.spam, t.ham};
    }
    std::unique_lock lock(mutex_);
    tokens_ = std::move(fresh);
    spam_messages_ = stored.spam_messages;
    ham_messages_ = stored.ham_messages;
}

void bayes_model::learn(bool spam, const std::vector<std::int64_t>& tokens) {
    std::unique_lock lock(mutex_);
    (spam ? spam_messages_ : ham_messages_) += 1;
    for (const auto token : tokens) {
        auto it = tokens_.find(token);
        if (it == tokens_.end()) {
            if (tokens_.size() >= max_tokens_) {
                continue;  // storage has it; the next load keeps the most seen
            }
            it = tokens_.emplace(token, counts{}).first;
        }
        (spam ? it->second.spam : it->second.ham) += 1;
    }
}

bayes_score bayes_model::score(const std::vector<std::int64_t>& tokens) const {
    bayes_score out;
    std::vector<double> clues;
    {
        std::shared_lock lock(mutex_);
        if (spam_messages_ < static_cast<std::int64_t>(min_messages_) ||
            ham_messages_ < static_cast<std::int64_t>(min_messages_)) {
            return out;
        }
        out.trained = true;
        const double nspam = static_cast<double>(spam_messages_);
        const double nham = static_cast<double>(ham_messages_);
        for (const auto token : tokens) {
            const auto it = tokens_.find(token);
            if (it == tokens_.end()) {
                continue;
            }
            const double spam_ratio = static_cast<double>(it->second.spam) / nspam;
            const double ham_ratio = static_cast<double>(it->second.ham) / nham;
            if (spam_ratio + ham_ratio <= 0) {
                continue;
            }
            const double p = spam_ratio / (spam_ratio + ham_ratio);
            // Robinson: a token seen n times moves from the neutral 0.5 (strength 0.45) towards its ratio.
            const double n = static_cast<double>(it->second.spam + it->second.ham);
            constexpr double strength = 0.45;
            const double f = (strength * 0.5 + n * p) / (strength + n);
            if (std::abs(f - 0.5) >= 0.1) {
                clues.push_back(f);
            }
        }
    }
    if (clues.size() > max_clues) {
        std::nth_element(clues.begin(), clues.begin() + static_cast<std::ptrdiff_t>(max_clues), clues.end(),
                         [](double a, double b) { return std::abs(a - 0.5) > std::abs(b - 0.5); });
        clues.resize(max_clues);
    }
    out.tokens_used = clues.size();
    if (clues.empty()) {
        return out;
    }
    // Fisher: how unlikely the clues are under "all neutral", once towards spam and once towards ham.
    double sum_log_p = 0;
    double sum_log_not_p = 0;
    for (double f : clues) {
        f = std::clamp(f, 1e-6, 1 - 1e-6);
        sum_log_p += std::log(f);
        sum_log_not_p += std::log(1.0 - f);
    }
    const double spam_evidence = 1.0 - chi2q(-2.0 * sum_log_not_p, 2 * clues.size());
    const double ham_evidence = 1.0 - chi2q(-2.0 * sum_log_p, 2 * clues.size());
    out.probability = std::clamp((spam_evidence - ham_evidence + 1.0) / 2.0, 0.0, 1.0);
    return out;
}

bayes_stats bayes_model::stats() const {
    std::shared_lock lock(mutex_);
    return bayes_stats{spam_messages_, ham_messages_, tokens_.size(), min_messages_};
}

}  // namespace hush::antispim
