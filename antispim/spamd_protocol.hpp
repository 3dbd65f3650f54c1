#pragma once
// SpamAssassin's spamc/spamd protocol (spamd/PROTOCOL in SpamAssassin), the part the content policy speaks: a
// SYMBOLS request carrying a stranger's message as a small RFC 5322 mail, and spamd's answer — its verdict, score,
// threshold and the rules that hit. Pure: no sockets here (issue 17; the client that uses it comes next).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/expected.hpp"

namespace hush::antispim {

// What spamd said about one message.
struct spamd_verdict {
    bool spam = false;
    double score = 0;
    double threshold = 0;
    std::vector<std::string> symbols;  // the rules that hit (SYMBOLS), e.g. "GTUBE"
};

// The mail spamd scores for an XMPP message: its plain-text body with the sender and receiver as addresses
// (xmpp: URIs are no mail addresses; bare JIDs are, mostly), UTF-8, CRLF line ends. `body` is the plaintext only:
// an encrypted message has none to score. Date (from `unix_time`) and Message-ID (`<message_id>`) are there
// because spamd scores their absence as spam (MISSING_DATE, MISSING_MID: 3.3 points for a harmless sentence).
std::string spamd_mail(std::string_view sender_bare, std::string_view receiver_bare, std::string_view body,
                       std::int64_t unix_time, std::string_view message_id);

// The whole request: "SYMBOLS SPAMC/1.5", Content-length, User (spamd's per-user settings; empty: none), a blank
// line and the mail.
std::string spamd_request(std::string_view mail, std::string_view user = {});

// spamd's answer to a SYMBOLS request. The error says what was wrong: a status other than 0 (with spamd's own
// message, e.g. "spamd: EX_USAGE (64) bad header"), no "Spam:" header, or an answer that is not spamd's.
hush::expected<spamd_verdict, std::string> parse_spamd_answer(std::string_view answer);

}  // namespace hush::antispim
