// The spamc/spamd protocol codec: the request and the mail it carries, and spamd's answers — spam, ham, errors and
// answers that are not spamd's.
#include <doctest.h>

#include "antispim/spamd_protocol.hpp"

using namespace hush::antispim;

TEST_CASE("the request: SYMBOLS over SPAMC/1.5 with the mail's length, the user, and the mail") {
    const std::string mail = spamd_mail("bot@spam.test", "bob@example.org", "buy\nnow\r\ncheap\rpills",
                                        1'796'000'000, "s1@example.org");
    CHECK(mail == "From: <bot@spam.test>\r\nTo: <bob@example.org>\r\nSubject: XMPP message\r\n"
                  "Date: Mon, 30 Nov 2026 00:53:20 +0000\r\nMessage-ID: <s1@example.org>\r\nMIME-Version: 1.0\r\n"
                  "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                  "buy\r\nnow\r\ncheap\r\npills\r\n");
    CHECK(spamd_request(mail, "bob@example.org") ==
          "SYMBOLS SPAMC/1.5\r\nContent-length: " + std::to_string(mail.size()) + "\r\nUser: bob@example.org\r\n\r\n" +
              mail);
    CHECK(spamd_request("x") == "SYMBOLS SPAMC/1.5\r\nContent-length: 1\r\n\r\nx");
    // Peer input cannot add a header.
    CHECK(spamd_mail("a@b\r\nBcc: x", "c@d", "", 0, "m").starts_with("From: <a@b  Bcc: x>\r\nTo: <c@d>\r\n"));
}

TEST_CASE("spamd's answers: spam with its rules, ham, and the protocol's variants") {
    // What spamd answers a GTUBE message.
    auto gtube = parse_spamd_answer("SPAMD/1.1 0 EX_OK\r\nContent-length: 23\r\nSpam: True ; 1000.0 / 5.0\r\n\r\n"
                                    "GTUBE,NO_RECEIVED,NO_RELAYS\r\n");
    REQUIRE(gtube);
    CHECK(gtube->spam);
    CHECK(gtube->score == doctest::Approx(1000.0));
    CHECK(gtube->threshold == doctest::Approx(5.0));
    CHECK(gtube->symbols == std::vector<std::string>{"GTUBE", "NO_RECEIVED", "NO_RELAYS"});

    auto ham = parse_spamd_answer("SPAMD/1.5 0 EX_OK\nspam: False ; -0.2 / 5.0\n\n");
    REQUIRE(ham);
    CHECK_FALSE(ham->spam);
    CHECK(ham->score == doctest::Approx(-0.2));
    CHECK(ham->symbols.empty());
    CHECK(parse_spamd_answer("SPAMD/1.1 0 EX_OK\r\nSpam: Yes ; 6.1 / 5.0\r\n\r\n")->spam);  // protocol 1.0 words
}

TEST_CASE("spamd's errors and answers that are not spamd's say what is wrong") {
    CHECK(parse_spamd_answer("SPAMD/1.1 64 EX_USAGE\r\n").error() == "spamd: EX_USAGE (64)");
    CHECK(parse_spamd_answer("HTTP/1.1 200 OK\r\n\r\n").error() == "not a spamd answer");
    CHECK(parse_spamd_answer("").error() == "not a spamd answer");
    CHECK(parse_spamd_answer("SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\n\r\n").error() == "spamd: no Spam header");
    CHECK(parse_spamd_answer("SPAMD/1.1 0 EX_OK\r\nSpam: Maybe ; 1 / 5\r\n\r\n").error() ==
          "spamd: an unreadable Spam header");
    CHECK(parse_spamd_answer("SPAMD/1.1 0 EX_OK\r\nSpam: True ; lots / 5\r\n\r\n").error() ==
          "spamd: an unreadable score in the Spam header");
    CHECK(parse_spamd_answer("SPAMD/1.1\r\n").error() == "spamd: a status line without a status");
}
