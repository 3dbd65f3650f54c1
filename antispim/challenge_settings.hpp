#pragma once
// A receiver's Bot Challenge settings as plain data: the configuration's default ([antispim.challenge]) and each
// user's own (antispim/challenge.hpp parses and serializes them). Header-only, so the config library can hold one.
#include <chrono>
#include <string>
#include <vector>

namespace hush::antispim {

// What happens to strangers' stanzas for one receiver.
enum class stranger_mode { challenge, allow, drop };
// What a stranger is asked. `code`: a number of `code_digits` digits, new for every challenge, written out in words
// ("seven four one two"), to be typed in digits — nothing to pick from, nothing that passed before passes again, so a
// blind or replayed guess fails (issue 16). `question`: the receiver's own question with good and wrong answers, a
// random subset of them offered (the 2005 proposal; one an acquaintance can answer and a stranger cannot).
enum class challenge_kind { code, question };
// A receiver's settings: the <challenge xmlns='urn:hush:antispim:0'/> element of its privacy settings.
struct challenge_settings {
    bool enabled = true;
    stranger_mode strangers = stranger_mode::challenge;
    challenge_kind kind = challenge_kind::code;
    unsigned code_digits = 4;  // kind code: a blind guess passes 1 in 9×10^(digits−1) tries
    // kind question: no default ships — a question shared by every installation is one a bot learns once.
    std::string question;
    std::vector<std::string> good_answers;
    std::vector<std::string> wrong_answers;
    std::chrono::seconds min_answer{3};  // faster answers cannot come from someone who read the question
    unsigned max_tries = 3;              // wrong or too fast answers before a lockout
    std::chrono::minutes long_interval{10};
    unsigned growth = 10;  // lockout k lasts long_interval * growth^(k-1)
    unsigned steps = 4;    // lockouts before the sender is blocked for good
    unsigned offered = 4;  // answers shown per challenge (at least one good one among them)

    bool operator==(const challenge_settings&) const = default;
};

}  // namespace hush::antispim
