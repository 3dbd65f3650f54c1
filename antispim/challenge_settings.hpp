#pragma once
// A receiver's Bot Challenge settings as plain data: the configuration's default ([antispim.challenge]) and each
// user's own (antispim/challenge.hpp parses and serializes them). Header-only, so the config library can hold one.
#include <chrono>
#include <string>
#include <vector>

namespace hush::antispim {

// What happens to strangers' stanzas for one receiver.
enum class stranger_mode { challenge, allow, drop };
// A receiver's settings: the <challenge xmlns='urn:hush:antispim:0'/> element of its privacy settings.
struct challenge_settings {
    bool enabled = true;
    stranger_mode strangers = stranger_mode::challenge;
    std::string question = "What is the colour of a clear daytime sky?";
    std::vector<std::string> good_answers{"blue"};
    std::vector<std::string> wrong_answers{"green", "red", "purple", "orange", "black"};
    std::chrono::seconds min_answer{3};  // faster answers cannot come from someone who read the question
    unsigned max_tries = 3;              // wrong or too fast answers before a lockout
    std::chrono::minutes long_interval{10};
    unsigned growth = 10;  // lockout k lasts long_interval * growth^(k-1)
    unsigned steps = 4;    // lockouts before the sender is blocked for good
    unsigned offered = 4;  // answers shown per challenge (at least one good one among them)

    bool operator==(const challenge_settings&) const = default;
};

}  // namespace hush::antispim
