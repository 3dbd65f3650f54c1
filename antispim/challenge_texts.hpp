#pragma once
// What the Bot Challenge says to a person, as plain data: templates with {placeholders}, the defaults in English,
// and other languages the admin adds ([antispim.texts] and [antispim.texts.<language>] in hush.toml). Header-only,
// so the config library can hold and check them; antispim/challenge_wording.hpp turns them into messages.
#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hush::antispim {

struct challenge_texts {
    // The first line of everything the server sends for a receiver: nobody should think the receiver typed it.
    std::string preamble = "Automatic reply from {server}, on behalf of {receiver}:";
    std::string challenge =
        "{receiver} only receives messages from people they know. Your message is kept and will be delivered as soon "
        "as you answer this question:";
    std::string how_to_answer = "Reply with the number or the words of your answer.";
    // The default challenge: a number spelled out digit by digit ({code}: "seven four one two"), typed in digits.
    std::string code_question = "Please reply with this number, written in digits: {code}";
    // The words for 0 to 9, in order, separated by spaces: what {code} is spelled with.
    std::string digits = "zero one two three four five six seven eight nine";
    std::string too_fast = "That was too fast: take a moment to read the question. {tries_left} left.";
    std::string wrong = "That is not right; {tries_left} left.";
    std::string locked_out =
        "Too many wrong answers. Please wait {wait} before you write to {receiver} again (until {until}); anything "
        "you send earlier starts the wait over.";
    std::string approved =
        "Thank you, that is right. Your messages now reach {receiver}, and those you sent before are delivered too.";
    std::string waiting = "Your earlier messages are still waiting for your answer to the question; answer it first.";
    // The oldest held messages made room for newer requests: their sender is told.
    std::string dropped =
        "{messages} you sent to {receiver} could not be kept while waiting for your answer: too many were waiting. "
        "Please answer the question and write again.";
    // Counted words: "{n}" is the number.
    std::string try_one = "1 try";
    std::string tries = "{n} tries";
    std::string minute_one = "1 minute";
    std::string minutes = "{n} minutes";
    std::string hour_one = "1 hour";
    std::string hours = "{n} hours";
    std::string day_one = "1 day";
    std::string days = "{n} days";
    std::string message_one = "1 message";
    std::string messages = "{n} messages";

    bool operator==(const challenge_texts&) const = default;
};

// Every text with the placeholders it may use: the config loader reads and checks keys from this table.
struct challenge_text_field {
    std::string_view key;
    std::string challenge_texts::*member;
    std::string_view placeholders;  // space-separated names
};

inline constexpr std::array<challenge_text_field, 21> challenge_text_fields{{
    {"preamble", &challenge_texts::preamble, "server receiver"},
    {"challenge", &challenge_texts::challenge, "server receiver"},
    {"how_to_answer", &challenge_texts::how_to_answer, "server receiver"},
    {"code_question", &challenge_texts::code_question, "server receiver code"},
    {"digits", &challenge_texts::digits, ""},
    {"too_fast", &challenge_texts::too_fast, "server receiver tries_left"},
    {"wrong", &challenge_texts::wrong, "server receiver tries_left"},
    {"locked_out", &challenge_texts::locked_out, "server receiver wait until"},
    {"approved", &challenge_texts::approved, "server receiver"},
    {"waiting", &challenge_texts::waiting, "server receiver"},
    {"dropped", &challenge_texts::dropped, "server receiver messages"},
    {"try_one", &challenge_texts::try_one, ""},
    {"tries", &challenge_texts::tries, "n"},
    {"minute_one", &challenge_texts::minute_one, ""},
    {"minutes", &challenge_texts::minutes, "n"},
    {"hour_one", &challenge_texts::hour_one, ""},
    {"hours", &challenge_texts::hours, "n"},
    {"day_one", &challenge_texts::day_one, ""},
    {"days", &challenge_texts::days, "n"},
    {"message_one", &challenge_texts::message_one, ""},
    {"messages", &challenge_texts::messages, "n"},
}};

// The first {name} in `text` that is not among `allowed` (space-separated), or an unclosed brace; nullopt when
// every placeholder is known. Braces only ever open placeholders.
inline std::optional<std::string> unknown_placeholder(std::string_view text, std::string_view allowed) {
    for (std::size_t open = text.find('{'); open != std::string_view::npos; open = text.find('{', open + 1)) {
        const std::size_t close = text.find('}', open);
        if (close == std::string_view::npos) {
            return std::string(text.substr(open));
        }
        const std::string_view name = text.substr(open + 1, close - open - 1);
        bool known = false;
        for (std::size_t at = 0; at < allowed.size() && !known;) {
            std::size_t end = allowed.find(' ', at);
            end = end == std::string_view::npos ? allowed.size() : end;
            known = allowed.substr(at, end - at) == name && !name.empty();
            at = end + 1;
        }
        if (!known) {
            return "{" + std::string(name) + "}";
        }
    }
    return std::nullopt;
}

// The words of `digits` (a text's digit names): ten when the text is usable.
inline std::vector<std::string_view> digit_words(std::string_view digits) {
    std::vector<std::string_view> words;
    for (std::size_t at = 0; at < digits.size();) {
        const std::size_t end = std::min(digits.find(' ', at), digits.size());
        if (end > at) {
            words.push_back(digits.substr(at, end - at));
        }
        at = end + 1;
    }
    return words;
}

// The texts in every language the server speaks. The defaults are in `default_language`; a stanza's xml:lang picks
// another set when there is one for it (exactly, or by its primary subtag: "de-AT" finds "de").
struct challenge_wording {
    std::string default_language = "en";
    challenge_texts defaults;
    std::map<std::string, challenge_texts> languages;  // lower-case language tag -> texts

    bool operator==(const challenge_wording&) const = default;
};

}  // namespace hush::antispim
