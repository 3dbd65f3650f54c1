#include "antispim/challenge.hpp"

#include "protocol/scram.hpp"
#include "protocol/xep0082.hpp"

#include <openssl/crypto.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>
#include <iomanip>
#include <sstream>

namespace hush::antispim {

namespace {

// An answer as compared: lower case, without the spaces and ASCII punctuation around it ("2)", "Blue." and
// " blue!" are what people type).
std::string trim_lower(std::string_view text) {
    auto skip = [](char c) {
        return std::isspace(static_cast<unsigned char>(c)) || std::ispunct(static_cast<unsigned char>(c));
    };
    std::size_t b = 0;
    std::size_t e = text.size();
    while (b < e && skip(text[b])) {
        ++b;
    }
    while (e > b && skip(text[e - 1])) {
        --e;
    }
    std::string out(text.substr(b, e - b));
    for (char& c : out) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

template <class T>
bool read_number(pugi::xml_node e, const char* name, T& out, std::int64_t min, std::int64_t max, std::string& error) {
    const auto a = e.attribute(name);
    if (!a) {
        return true;
    }
    const std::string_view text = a.value();
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size() || v < min || v > max) {
        error = std::string("'") + name + "' must be a whole number from " + std::to_string(min) + " to " +
                std::to_string(max);
        return false;
    }
    out = static_cast<T>(v);
    return true;
}

// The digits of a reply that consists of digits only, with spaces and punctuation between them allowed ("4712",
// "4 7 1 2", "47-12."); empty for anything else, and for replies longer than anyone types a number in.
std::string digits_only(std::string_view text) {
    std::string out;
    if (text.size() > 32) {
        return out;
    }
    for (char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isdigit(u)) {
            out += c;
        } else if (!std::isspace(u) && !std::ispunct(u)) {
            return {};
        }
    }
    return out;
}

// Whether `answer` names a good answer among those offered, by its number or its words.
bool offered_good(const sender_state& state, const challenge_settings& settings, std::string_view answer) {
    std::string chosen = trim_lower(answer);
    unsigned number = 0;
    const auto [end, ec] = std::from_chars(chosen.data(), chosen.data() + chosen.size(), number);
    if (!chosen.empty() && ec == std::errc{} && end == chosen.data() + chosen.size() && number >= 1 &&
        number <= state.offered.size()) {
        chosen = trim_lower(state.offered[number - 1]);
    }
    const bool offered = std::any_of(state.offered.begin(), state.offered.end(),
                                     [&](const std::string& o) { return trim_lower(o) == chosen; });
    return offered && std::any_of(settings.good_answers.begin(), settings.good_answers.end(),
                                  [&](const std::string& g) { return trim_lower(g) == chosen; });
}

}  // namespace

std::string_view challenge_kind_name(challenge_kind kind) {
    return kind == challenge_kind::code ? "code" : "question";
}

std::optional<challenge_kind> parse_challenge_kind(std::string_view text) {
    if (text == "code") {
        return challenge_kind::code;
    }
    if (text == "question") {
        return challenge_kind::question;
    }
    return std::nullopt;
}

std::string_view stranger_mode_name(stranger_mode mode) {
    switch (mode) {
    case stranger_mode::challenge: return "challenge";
    case stranger_mode::allow: return "allow";
    case stranger_mode::drop: return "drop";
    }
    return "challenge";
}

std::optional<stranger_mode> parse_stranger_mode(std::string_view text) {
    for (auto m : {stranger_mode::challenge, stranger_mode::allow, stranger_mode::drop}) {
        if (text == stranger_mode_name(m)) {
            return m;
        }
    }
    return std::nullopt;
}

// ---- settings payload ---------------------------------------------------------------------------------------------

hush::expected<challenge_settings, std::string> parse_challenge_settings(pugi::xml_node e) {
    using result = hush::expected<challenge_settings, std::string>;
    challenge_settings s;
    std::string error;
    if (std::string_view(e.name()) != "challenge") {
        return hush::unexpected<std::string>("expected <challenge/>");
    }
    if (auto a = e.attribute("enabled")) {
        const std::string_view v = a.value();
        if (v != "true" && v != "false" && v != "1" && v != "0") {
            return hush::unexpected<std::string>("'enabled' must be true or false");
        }
        s.enabled = v == "true" || v == "1";
    }
    if (auto a = e.attribute("strangers")) {
        auto mode = parse_stranger_mode(a.value());
        if (!mode) {
            return hush::unexpected<std::string>("'strangers' must be challenge, allow or drop");
        }
        s.strangers = *mode;
    }
    // Settings stored before there were kinds have a question: they stay that kind.
    s.kind = e.child("question") ? challenge_kind::question : challenge_kind::code;
    if (auto a = e.attribute("kind")) {
        auto kind = parse_challenge_kind(a.value());
        if (!kind) {
            return hush::unexpected<std::string>("'kind' must be code or question");
        }
        s.kind = *kind;
    }
    std::int64_t min_answer = s.min_answer.count();
    std::int64_t long_interval = s.long_interval.count();
    if (!read_number(e, "min-answer-seconds", min_answer, 0, 3600, error) ||
        !read_number(e, "max-tries", s.max_tries, 1, 100, error) ||
        !read_number(e, "long-interval-minutes", long_interval, 1, 60 * 24 * 365, error) ||
        !read_number(e, "growth", s.growth, 1, 100, error) || !read_number(e, "steps", s.steps, 1, 10, error) ||
        !read_number(e, "offered", s.offered, 2, 20, error) ||
        !read_number(e, "code-digits", s.code_digits, 4, 12, error)) {
        return hush::unexpected<std::string>(error);
    }
    s.min_answer = std::chrono::seconds{min_answer};
    s.long_interval = std::chrono::minutes{long_interval};
    bool have_answers = false;
    for (auto child : e.children()) {
        if (child.type() != pugi::node_element) {
            continue;
        }
        const std::string_view name = child.name();
        const std::string text = child.child_value();
        if (name == "question") {
            s.question = text;
        } else if (name == "answer") {
            if (!have_answers) {
                s.good_answers.clear();
                s.wrong_answers.clear();
                have_answers = true;
            }
            if (trim_lower(text).empty()) {
                return hush::unexpected<std::string>("an <answer/> must not be empty");
            }
            const std::string_view correct = child.attribute("correct").value();
            (correct == "true" || correct == "1" ? s.good_answers : s.wrong_answers).push_back(text);
        }
    }
    if (s.kind == challenge_kind::code) {
        return result(std::move(s));  // a question and answers, if any, are kept for a switch back
    }
    if (s.question.empty()) {
        return hush::unexpected<std::string>("the <question/> must not be empty");
    }
    if (s.good_answers.empty()) {
        return hush::unexpected<std::string>("at least one <answer correct='true'/> is required");
    }
    if (s.wrong_answers.empty()) {
        return hush::unexpected<std::string>("at least one wrong <answer/> is required (bots would just pick any)");
    }
    for (const auto& good : s.good_answers) {
        for (const auto& wrong : s.wrong_answers) {
            if (trim_lower(good) == trim_lower(wrong)) {
                return hush::unexpected<std::string>("'" + good + "' is both a good and a wrong answer");
            }
        }
    }
    return result(std::move(s));
}

pugi::xml_node append_challenge_settings(pugi::xml_node parent, const challenge_settings& s) {
    auto e = parent.append_child("challenge");
    e.append_attribute("xmlns").set_value(std::string(ns).c_str());
    e.append_attribute("enabled").set_value(s.enabled ? "true" : "false");
    e.append_attribute("strangers").set_value(std::string(stranger_mode_name(s.strangers)).c_str());
    e.append_attribute("kind").set_value(std::string(challenge_kind_name(s.kind)).c_str());
    e.append_attribute("code-digits").set_value(s.code_digits);
    e.append_attribute("min-answer-seconds").set_value(static_cast<long long>(s.min_answer.count()));
    e.append_attribute("max-tries").set_value(s.max_tries);
    e.append_attribute("long-interval-minutes").set_value(static_cast<long long>(s.long_interval.count()));
    e.append_attribute("growth").set_value(s.growth);
    e.append_attribute("steps").set_value(s.steps);
    e.append_attribute("offered").set_value(s.offered);
    if (!s.question.empty()) {
        e.append_child("question").append_child(pugi::node_pcdata).set_value(s.question.c_str());
    }
    for (const auto& a : s.good_answers) {
        auto answer = e.append_child("answer");
        answer.append_attribute("correct").set_value("true");
        answer.append_child(pugi::node_pcdata).set_value(a.c_str());
    }
    for (const auto& a : s.wrong_answers) {
        e.append_child("answer").append_child(pugi::node_pcdata).set_value(a.c_str());
    }
    return e;
}

// ---- sender state -------------------------------------------------------------------------------------------------

std::string serialize_sender_state(const sender_state& st) {
    pugi::xml_document doc;
    auto e = doc.append_child("sender");
    e.append_attribute("challenge").set_value(st.challenge_id.c_str());
    e.append_attribute("challenged-at").set_value(static_cast<long long>(unix_seconds(st.challenged_at)));
    e.append_attribute("tries").set_value(st.tries);
    e.append_attribute("lockouts").set_value(st.lockouts);
    e.append_attribute("locked-until").set_value(static_cast<long long>(unix_seconds(st.locked_until)));
    e.append_attribute("blocked").set_value(st.blocked ? "true" : "false");
    e.append_attribute("approved-key").set_value(st.approved_key.c_str());
    if (!st.code.empty()) {
        e.append_attribute("code").set_value(st.code.c_str());
    }
    for (const auto& o : st.offered) {
        e.append_child("offered").append_child(pugi::node_pcdata).set_value(o.c_str());
    }
    std::ostringstream out;
    doc.save(out, "", pugi::format_raw | pugi::format_no_declaration);
    return out.str();
}

hush::expected<sender_state, std::string> parse_sender_state(std::string_view xml) {
    pugi::xml_document doc;
    if (!doc.load_buffer(xml.data(), xml.size())) {
        return hush::unexpected<std::string>("unreadable sender state");
    }
    const auto e = doc.child("sender");
    sender_state st;
    st.challenge_id = e.attribute("challenge").value();
    st.challenged_at = time_point(std::chrono::seconds(e.attribute("challenged-at").as_llong()));
    st.tries = e.attribute("tries").as_uint();
    st.lockouts = e.attribute("lockouts").as_uint();
    st.locked_until = time_point(std::chrono::seconds(e.attribute("locked-until").as_llong()));
    st.blocked = e.attribute("blocked").as_bool();
    st.approved_key = e.attribute("approved-key").value();
    st.code = e.attribute("code").value();
    for (auto o : e.children("offered")) {
        st.offered.emplace_back(o.child_value());
    }
    return st;
}

// ---- the protocol -------------------------------------------------------------------------------------------------

std::chrono::minutes lockout_length(const challenge_settings& settings, unsigned n) {
    std::int64_t minutes = settings.long_interval.count();
    for (unsigned i = 1; i < n; ++i) {
        minutes = std::min<std::int64_t>(minutes * settings.growth, 60LL * 24 * 365 * 10);  // ten years at most
    }
    return std::chrono::minutes{minutes};
}

void challenge_engine::new_challenge(sender_state& state, const challenge_settings& settings, time_point now) {
    state.code.clear();
    if (settings.kind == challenge_kind::code) {
        state.offered.clear();
        std::uniform_int_distribution<int> first(1, 9);  // no leading zero: people drop it
        std::uniform_int_distribution<int> digit(0, 9);
        state.code += static_cast<char>('0' + first(rng_));
        while (state.code.size() < std::max(1u, settings.code_digits)) {
            state.code += static_cast<char>('0' + digit(rng_));
        }
        return new_id(state, now);
    }
    const auto previous = state.offered;
    const std::size_t total = settings.good_answers.size() + settings.wrong_answers.size();
    const std::size_t shown = std::min<std::size_t>(settings.offered, total);
    for (int attempt = 0; attempt < 8; ++attempt) {
        // One good answer, then wrong (and further good) answers drawn at random to fill the set; then shuffled.
        std::vector<std::string> goods = settings.good_answers;
        std::vector<std::string> rest = settings.wrong_answers;
        std::shuffle(goods.begin(), goods.end(), rng_);
        rest.insert(rest.end(), goods.begin() + 1, goods.end());
        std::shuffle(rest.begin(), rest.end(), rng_);
        std::vector<std::string> offered{goods.front()};
        offered.insert(offered.end(), rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(shown - 1));
        std::shuffle(offered.begin(), offered.end(), rng_);
        state.offered = std::move(offered);
        if (state.offered != previous) {
            break;  // seed step e: *other* random answers
        }
    }
    new_id(state, now);
}

void challenge_engine::new_id(sender_state& state, time_point now) {
    std::uniform_int_distribution<std::uint64_t> any;
    std::ostringstream id;  // fixed width: ids must not vary in shape
    id << std::hex << std::setfill('0') << std::setw(16) << any(rng_) << std::setw(16) << any(rng_);
    state.challenge_id = id.str();
    state.challenged_at = now;
}

stranger_outcome challenge_engine::on_stanza(sender_state& state, const challenge_settings& settings, time_point now,
                                             std::chrono::seconds resend_after) {
    if (state.blocked) {
        return {stranger_outcome::kind::blocked, {}};
    }
    if (now < state.locked_until) {
        // Seed step k: trying during the long interval starts it over.
        state.locked_until = now + lockout_length(settings, state.lockouts);
        return {stranger_outcome::kind::locked_out, state.locked_until};
    }
    if (!state.challenge_id.empty() && now - state.challenged_at < resend_after) {
        return {stranger_outcome::kind::resend, {}};
    }
    new_challenge(state, settings, now);
    return {stranger_outcome::kind::challenge, {}};
}

bool challenge_engine::looks_like_answer(const sender_state& state, std::string_view text) {
    if (state.challenge_id.empty()) {
        return false;
    }
    if (!state.code.empty()) {
        return !digits_only(text).empty();
    }
    const std::string t = trim_lower(text);
    unsigned number = 0;
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), number);
    if (!t.empty() && ec == std::errc{} && end == t.data() + t.size()) {
        return number >= 1 && number <= state.offered.size();
    }
    return std::any_of(state.offered.begin(), state.offered.end(),
                       [&](const std::string& o) { return trim_lower(o) == t; });
}

answer_outcome challenge_engine::on_answer(sender_state& state, const challenge_settings& settings, time_point now,
                                           std::string_view answer, const std::string& key_id) {
    if (state.blocked) {
        return {answer_outcome::kind::blocked, {}};
    }
    if (now < state.locked_until) {
        state.locked_until = now + lockout_length(settings, state.lockouts);
        return {answer_outcome::kind::locked_out, state.locked_until};
    }
    if (state.challenge_id.empty()) {
        return {answer_outcome::kind::no_challenge, {}};
    }
    const bool too_fast = now - state.challenged_at < settings.min_answer;
    const bool good = state.code.empty() ? offered_good(state, settings, answer) : digits_only(answer) == state.code;
    if (good && !too_fast) {
        state = sender_state{};
        state.approved_key = key_id;
        return {answer_outcome::kind::pass, {}};
    }
    ++state.tries;
    if (state.tries >= settings.max_tries) {
        state.tries = 0;
        state.challenge_id.clear();
        state.offered.clear();
        state.code.clear();
        ++state.lockouts;
        if (state.lockouts > settings.steps) {
            state.blocked = true;
            return {answer_outcome::kind::blocked, {}};
        }
        state.locked_until = now + lockout_length(settings, state.lockouts);
        return {answer_outcome::kind::locked_out, state.locked_until};
    }
    new_challenge(state, settings, now);
    return {too_fast ? answer_outcome::kind::too_fast : answer_outcome::kind::wrong, {}};
}

// ---- wire -----------------------------------------------------------------------------------------------------------

void append_captcha_form(pugi::xml_node message, const std::string& receiver, const sender_state& state,
                         std::string_view question) {
    auto captcha = message.append_child("captcha");
    captcha.append_attribute("xmlns").set_value(std::string(captcha_ns).c_str());
    auto x = captcha.append_child("x");
    x.append_attribute("xmlns").set_value("jabber:x:data");
    x.append_attribute("type").set_value("form");
    auto hidden = [&](const char* var, const std::string& value) {
        auto f = x.append_child("field");
        f.append_attribute("type").set_value("hidden");
        f.append_attribute("var").set_value(var);
        f.append_child("value").append_child(pugi::node_pcdata).set_value(value.c_str());
    };
    hidden("FORM_TYPE", std::string(captcha_ns));
    hidden("from", receiver);
    hidden("challenge", state.challenge_id);
    hidden("sid", state.challenge_id);
    auto qa = x.append_child("field");
    qa.append_attribute("type").set_value(state.code.empty() ? "list-single" : "text-single");
    qa.append_attribute("var").set_value("qa");
    qa.append_attribute("label").set_value(std::string(question).c_str());
    qa.append_child("required");
    for (const auto& o : state.offered) {
        auto option = qa.append_child("option");
        option.append_attribute("label").set_value(o.c_str());
        option.append_child("value").append_child(pugi::node_pcdata).set_value(o.c_str());
    }
}

std::optional<std::pair<std::string, std::string>> parse_captcha_answer(pugi::xml_node captcha) {
    const auto x = captcha.child("x");
    if (!x || std::string_view(x.attribute("type").value()) != "submit") {
        return std::nullopt;
    }
    std::string id;
    std::string answer;
    for (auto f : x.children("field")) {
        const std::string_view var = f.attribute("var").value();
        if (var == "challenge") {
            id = f.child("value").child_value();
        } else if (var == "qa") {
            answer = f.child("value").child_value();
        }
    }
    if (id.empty() || answer.empty()) {
        return std::nullopt;
    }
    return std::make_pair(id, answer);
}

std::string sender_secret(std::string_view key, std::string_view sender_bare) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(sender_bare.data()), sender_bare.size(), mac, &length);
    return sasl::hex_encode(std::string_view(reinterpret_cast<const char*>(mac), 16));
}

bool secret_matches(std::string_view key, std::string_view sender_bare, std::string_view presented) {
    const std::string expected = sender_secret(key, sender_bare);
    return presented.size() == expected.size() && CRYPTO_memcmp(presented.data(), expected.data(), expected.size()) == 0;
}

std::string format_utc(time_point t) {
    const std::time_t seconds = clock_type::to_time_t(t);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char buffer[32];
    std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buffer;
}

std::string retry_after_payload(time_point until) {
    return "<retry-after xmlns='" + std::string(ns) + "' until='" + format_utc(until) + "'/>";
}

}  // namespace hush::antispim
