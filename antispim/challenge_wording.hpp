#pragma once
// The words of the Bot Challenge: the question, the feedback on each answer, the lockout and the approval, as the
// bodies of plain chat messages every client shows (docs/antispim.md "What the stranger sees"). Pure functions of the
// configured texts (antispim/challenge_texts.hpp) and the challenge state.
#include <chrono>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "antispim/challenge.hpp"
#include "antispim/challenge_texts.hpp"

namespace hush::antispim {

// The texts for a stanza's xml:lang and the language they are in.
struct chosen_texts {
    const challenge_texts& texts;
    std::string language;
};
chosen_texts texts_for(const challenge_wording& wording, std::string_view xml_lang);

// `text` with each {name} replaced by its value.
std::string fill(std::string_view text, std::initializer_list<std::pair<std::string_view, std::string>> values);

// Who speaks and for whom: the first line of every message.
struct speaker {
    std::string server;    // the receiver's domain
    std::string receiver;  // the receiver's bare JID
};

// What the new question follows: nothing (the first contact), a too fast answer or a wrong one.
enum class challenge_feedback { none, too_fast, wrong };

// What the stranger is asked, in one line: the code spelled out in `texts`' digit words, or the receiver's question.
std::string challenge_question(const challenge_texts& texts, const speaker& who, const challenge_settings& settings,
                               const sender_state& state);
// The question (with its numbered answers, for a question of the receiver's), after the feedback line when there
// is one.
std::string challenge_body(const challenge_texts& texts, const speaker& who, const challenge_settings& settings,
                           const sender_state& state, challenge_feedback feedback);
// "Wait 10 minutes (until 2026-12-06 08:40 UTC)"; `now` gives the length.
std::string lockout_body(const challenge_texts& texts, const speaker& who, time_point now, time_point until);
// Only the sentence (for an error's text), without the first line.
std::string lockout_sentence(const challenge_texts& texts, const speaker& who, time_point now, time_point until);
std::string approval_body(const challenge_texts& texts, const speaker& who);
std::string waiting_sentence(const challenge_texts& texts, const speaker& who);
// `count` held messages were dropped to make room.
std::string dropped_body(const challenge_texts& texts, const speaker& who, std::size_t count);

// A length in the largest unit that keeps it readable: minutes up to two hours, hours up to two days, then days
// (rounded up: nobody should be told to wait less than they must).
std::string duration_words(const challenge_texts& texts, std::chrono::seconds length);

}  // namespace hush::antispim
