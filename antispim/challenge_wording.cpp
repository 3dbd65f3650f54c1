#include "antispim/challenge_wording.hpp"
#include "protocol/ascii.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>

namespace hush::antispim {

namespace {

// "{n} tries" with n, or the singular text for 1.
std::string counted(const std::string& one, const std::string& many, long long n) {
    return n == 1 ? one : fill(many, {{"n", std::to_string(n)}});
}

std::string first_line(const challenge_texts& texts, const speaker& who) {
    return fill(texts.preamble, {{"server", who.server}, {"receiver", who.receiver}});
}

// Lines joined with newlines; empty lines (a text the admin emptied) are left out.
void add_line(std::string& out, const std::string& line) {
    if (line.empty()) {
        return;
    }
    if (!out.empty()) {
        out += '\n';
    }
    out += line;
}

// Rounded up to the minute: "until 08:41" must not be before the real end.
std::string utc_minutes(time_point t) {
    std::time_t seconds = clock_type::to_time_t(t);
    seconds += (60 - seconds % 60) % 60;
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char buffer[32];
    std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M UTC", &tm);
    return buffer;
}

}  // namespace

chosen_texts texts_for(const challenge_wording& wording, std::string_view xml_lang) {
    if (!xml_lang.empty() && !wording.languages.empty()) {
        const std::string tag = ascii_lower(xml_lang);
        if (auto it = wording.languages.find(tag); it != wording.languages.end()) {
            return {it->second, it->first};
        }
        const std::string primary = tag.substr(0, tag.find('-'));
        if (auto it = wording.languages.find(primary); it != wording.languages.end()) {
            return {it->second, it->first};
        }
    }
    return {wording.defaults, wording.default_language};
}

std::string fill(std::string_view text, std::initializer_list<std::pair<std::string_view, std::string>> values) {
    std::string out;
    out.reserve(text.size() + 64);
    std::size_t at = 0;
    while (at < text.size()) {
        const std::size_t open = text.find('{', at);
        if (open == std::string_view::npos) {
            break;
        }
        const std::size_t close = text.find('}', open);
        if (close == std::string_view::npos) {
            break;
        }
        out.append(text.substr(at, open - at));
        const std::string_view name = text.substr(open + 1, close - open - 1);
        const auto* value = std::find_if(values.begin(), values.end(), [&](const auto& v) { return v.first == name; });
        if (value != values.end()) {
            out += value->second;
        } else {
            out.append(text.substr(open, close - open + 1));  // unknown names stay visible (config rejects them)
        }
        at = close + 1;
    }
    out.append(text.substr(std::min(at, text.size())));
    return out;
}

std::string duration_words(const challenge_texts& texts, std::chrono::seconds length) {
    const long long minutes = std::max<long long>(1, (length.count() + 59) / 60);
    if (minutes <= 120) {
        return counted(texts.minute_one, texts.minutes, minutes);
    }
    const long long hours = (minutes + 59) / 60;
    if (hours <= 48) {
        return counted(texts.hour_one, texts.hours, hours);
    }
    return counted(texts.day_one, texts.days, (hours + 23) / 24);
}

std::string challenge_body(const challenge_texts& texts, const speaker& who, const challenge_settings& settings,
                           const sender_state& state, challenge_feedback feedback) {
    std::string out;
    add_line(out, first_line(texts, who));
    const unsigned left = settings.max_tries > state.tries ? settings.max_tries - state.tries : 0;
    const std::string tries_left = counted(texts.try_one, texts.tries, left);
    switch (feedback) {
    case challenge_feedback::none:
        add_line(out, fill(texts.challenge, {{"server", who.server}, {"receiver", who.receiver}}));
        break;
    case challenge_feedback::too_fast:
        add_line(out, fill(texts.too_fast,
                           {{"server", who.server}, {"receiver", who.receiver}, {"tries_left", tries_left}}));
        break;
    case challenge_feedback::wrong:
        add_line(out,
                 fill(texts.wrong, {{"server", who.server}, {"receiver", who.receiver}, {"tries_left", tries_left}}));
        break;
    }
    add_line(out, challenge_question(texts, who, settings, state));
    if (!state.code.empty()) {
        return out;  // the code's sentence says how to answer
    }
    for (std::size_t i = 0; i < state.offered.size(); ++i) {
        add_line(out, std::to_string(i + 1) + ") " + state.offered[i]);
    }
    add_line(out, fill(texts.how_to_answer, {{"server", who.server}, {"receiver", who.receiver}}));
    return out;
}

std::string challenge_question(const challenge_texts& texts, const speaker& who, const challenge_settings& settings,
                               const sender_state& state) {
    if (state.code.empty()) {
        return settings.question;
    }
    const auto words = digit_words(texts.digits);
    std::string spelled;
    for (char c : state.code) {
        const auto d = static_cast<std::size_t>(c - '0');
        spelled += spelled.empty() ? "" : " ";
        spelled += words.size() == 10 ? std::string(words[d]) : std::string(1, c);
    }
    return fill(texts.code_question, {{"server", who.server}, {"receiver", who.receiver}, {"code", spelled}});
}

std::string lockout_sentence(const challenge_texts& texts, const speaker& who, time_point now, time_point until) {
    const auto length = std::chrono::duration_cast<std::chrono::seconds>(until - now);
    return fill(texts.locked_out, {{"server", who.server},
                                   {"receiver", who.receiver},
                                   {"wait", duration_words(texts, length)},
                                   {"until", utc_minutes(until)}});
}

std::string lockout_body(const challenge_texts& texts, const speaker& who, time_point now, time_point until) {
    std::string out;
    add_line(out, first_line(texts, who));
    add_line(out, lockout_sentence(texts, who, now, until));
    return out;
}

std::string approval_body(const challenge_texts& texts, const speaker& who) {
    std::string out;
    add_line(out, first_line(texts, who));
    add_line(out, fill(texts.approved, {{"server", who.server}, {"receiver", who.receiver}}));
    return out;
}

std::string waiting_sentence(const challenge_texts& texts, const speaker& who) {
    return fill(texts.waiting, {{"server", who.server}, {"receiver", who.receiver}});
}

std::string dropped_body(const challenge_texts& texts, const speaker& who, std::size_t count) {
    std::string out;
    add_line(out, first_line(texts, who));
    add_line(out, fill(texts.dropped, {{"server", who.server},
                                       {"receiver", who.receiver},
                                       {"messages", counted(texts.message_one, texts.messages,
                                                            static_cast<long long>(count))}}));
    return out;
}

}  // namespace hush::antispim
