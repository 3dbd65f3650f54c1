#include "antispim/spamd_protocol.hpp"

#include <charconv>
#include <ctime>

namespace hush::antispim {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
        s.remove_suffix(1);
    }
    return s;
}

bool parse_number(std::string_view text, double& out) {
    text = trim(text);
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && end == text.data() + text.size();
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
        if (lower(a[i]) != lower(b[i])) {
            return false;
        }
    }
    return true;
}

// Header values must not break the header: a JID has no CR or LF, but the request is built from peer input.
std::string header_safe(std::string_view value) {
    std::string out;
    for (const char c : value) {
        out += (c == '\r' || c == '\n') ? ' ' : c;
    }
    return out;
}

}  // namespace

std::string spamd_mail(std::string_view sender_bare, std::string_view receiver_bare, std::string_view body,
                       std::int64_t unix_time, std::string_view message_id) {
    // RFC 5322 date, always in UTC: "Mon, 07 Dec 2026 01:10:00 +0000".
    const std::time_t t = static_cast<std::time_t>(unix_time);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char date[40];
    std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    std::string mail = "From: <" + header_safe(sender_bare) + ">\r\nTo: <" + header_safe(receiver_bare) +
                       ">\r\nSubject: XMPP message\r\nDate: " + date + "\r\nMessage-ID: <" +
                       header_safe(message_id) + ">\r\nMIME-Version: 1.0\r\n"
                       "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n";
    // CRLF line ends, as mail has them: a lone LF or CR becomes CRLF.
    for (std::size_t i = 0; i < body.size(); ++i) {
        const char c = body[i];
        if (c == '\r') {
            mail += "\r\n";
            if (i + 1 < body.size() && body[i + 1] == '\n') {
                ++i;
            }
        } else if (c == '\n') {
            mail += "\r\n";
        } else {
            mail += c;
        }
    }
    mail += "\r\n";
    return mail;
}

std::string spamd_request(std::string_view mail, std::string_view user) {
    std::string request = "SYMBOLS SPAMC/1.5\r\nContent-length: " + std::to_string(mail.size()) + "\r\n";
    if (!user.empty()) {
        request += "User: " + header_safe(user) + "\r\n";
    }
    request += "\r\n";
    request.append(mail);
    return request;
}

hush::expected<spamd_verdict, std::string> parse_spamd_answer(std::string_view answer) {
    auto next_line = [&answer]() -> std::string_view {
        const auto end = answer.find('\n');
        std::string_view line = answer.substr(0, end);
        answer.remove_prefix(end == std::string_view::npos ? answer.size() : end + 1);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        return line;
    };
    // "SPAMD/1.1 0 EX_OK"
    const std::string_view status = next_line();
    if (!status.starts_with("SPAMD/")) {
        return hush::unexpected<std::string>("not a spamd answer");
    }
    const auto code_at = status.find(' ');
    if (code_at == std::string_view::npos) {
        return hush::unexpected<std::string>("spamd: a status line without a status");
    }
    const std::string_view rest = status.substr(code_at + 1);
    const auto message_at = rest.find(' ');
    const std::string_view code = rest.substr(0, message_at);
    if (code != "0") {
        const std::string message(message_at == std::string_view::npos ? "" : trim(rest.substr(message_at + 1)));
        return hush::unexpected<std::string>("spamd: " + message + " (" + std::string(code) + ")");
    }
    spamd_verdict verdict;
    bool said = false;
    for (std::string_view line = next_line(); !line.empty(); line = next_line()) {
        const auto colon = line.find(':');
        if (colon == std::string_view::npos || !iequals(trim(line.substr(0, colon)), "Spam")) {
            continue;  // Content-length and headers this client does not use
        }
        // "Spam: True ; 15.0 / 5.0"
        const std::string_view value = line.substr(colon + 1);
        const auto semicolon = value.find(';');
        const auto slash = value.find('/', semicolon == std::string_view::npos ? 0 : semicolon);
        if (semicolon == std::string_view::npos || slash == std::string_view::npos) {
            return hush::unexpected<std::string>("spamd: an unreadable Spam header");
        }
        const std::string_view flag = trim(value.substr(0, semicolon));
        if (!iequals(flag, "True") && !iequals(flag, "False") && !iequals(flag, "Yes") && !iequals(flag, "No")) {
            return hush::unexpected<std::string>("spamd: an unreadable Spam header");
        }
        verdict.spam = iequals(flag, "True") || iequals(flag, "Yes");
        if (!parse_number(value.substr(semicolon + 1, slash - semicolon - 1), verdict.score) ||
            !parse_number(value.substr(slash + 1), verdict.threshold)) {
            return hush::unexpected<std::string>("spamd: an unreadable score in the Spam header");
        }
        said = true;
    }
    if (!said) {
        return hush::unexpected<std::string>("spamd: no Spam header");
    }
    // SYMBOLS: the body is the rules that hit, comma-separated.
    std::string_view names = trim(next_line());
    while (!names.empty()) {
        const auto comma = names.find(',');
        const std::string_view name = trim(names.substr(0, comma));
        if (!name.empty()) {
            verdict.symbols.emplace_back(name);
        }
        names.remove_prefix(comma == std::string_view::npos ? names.size() : comma + 1);
    }
    return verdict;
}

}  // namespace hush::antispim
