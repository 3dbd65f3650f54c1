#include <doctest.h>

#include <cctype>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <string_view>

using namespace std::string_view_literals;

#include <stringprep.h>

#include "protocol/jid.hpp"

using hush::jid;

namespace {

// Parses text that must be valid and returns the full normalized form.
std::string full(std::string_view text) {
    auto j = jid::parse(text);
    REQUIRE_MESSAGE(j.has_value(), "expected valid: ", std::string(text));
    return j->full_string();
}

bool invalid(std::string_view text) {
    return !jid::parse(text).has_value();
}

}  // namespace

TEST_CASE("jid: splits node, domain and resource") {
    auto j = jid::parse("juliet@example.com/balcony");
    REQUIRE(j);
    CHECK(j->node() == "juliet");
    CHECK(j->domain() == "example.com");
    CHECK(j->resource() == "balcony");
    CHECK(j->has_node());
    CHECK_FALSE(j->is_bare());
    CHECK_FALSE(j->empty());
    CHECK(j->bare_string() == "juliet@example.com");
    CHECK(j->full_string() == "juliet@example.com/balcony");

    auto d = jid::parse("example.com");
    REQUIRE(d);
    CHECK_FALSE(d->has_node());
    CHECK(d->is_bare());
    CHECK(d->full_string() == "example.com");

    auto dr = jid::parse("example.com/res");
    REQUIRE(dr);
    CHECK(dr->node().empty());
    CHECK(dr->resource() == "res");
}

TEST_CASE("jid: resource starts at the first slash and may hold '@' and '/'") {
    auto j = jid::parse("a@b/c@d/e");
    REQUIRE(j);
    CHECK(j->node() == "a");
    CHECK(j->domain() == "b");
    CHECK(j->resource() == "c@d/e");

    // An '@' after the '/' belongs to the resource, not the node.
    auto k = jid::parse("example.com/user@host");
    REQUIRE(k);
    CHECK_FALSE(k->has_node());
    CHECK(k->domain() == "example.com");
    CHECK(k->resource() == "user@host");
}

TEST_CASE("jid: node and domain are case-folded, resource case is kept") {
    CHECK(full("JuLiEt@ExAmPlE.CoM/BalCony") == "juliet@example.com/BalCony");
    CHECK(full("\xC3\x84LICE@EXAMPLE.COM") == "\xC3\xA4lice@example.com");  // Ä -> ä
    CHECK(full("stra\xC3\x9F" "e@example.com") == "strasse@example.com");   // ß case-folds to ss
    // Compatibility mapping (NFKC): fullwidth 'Ａ' in a node becomes 'a'.
    CHECK(full("\xEF\xBC\xA1@example.com") == "a@example.com");
    // Resourceprep maps but does not fold case; soft hyphen maps to nothing.
    CHECK(full("a@example.com/Ph\xC2\xADone") == "a@example.com/Phone");
    // Emoji (unassigned in Unicode 3.2) are fine in a resource.
    CHECK(full("a@example.com/phone \xF0\x9F\x93\xB1") == "a@example.com/phone \xF0\x9F\x93\xB1");
    // Non-ASCII domain is nameprepped.
    CHECK(full("a@B\xC3\x9C" "CHER.example") == "a@b\xC3\xBC" "cher.example");
}

TEST_CASE("jid: bare and full comparisons") {
    auto a = jid::parse("Romeo@Example.net/Orchard");
    auto b = jid::parse("romeo@example.net/orchard");
    auto c = jid::parse("romeo@example.net/Orchard");
    auto bare = jid::parse("romeo@example.net");
    REQUIRE(a);
    REQUIRE(b);
    REQUIRE(c);
    REQUIRE(bare);

    CHECK(a->equals_bare(*b));
    CHECK_FALSE(a->equals_full(*b));  // resources differ in case
    CHECK_FALSE(*a == *b);
    CHECK(a->equals_full(*c));
    CHECK(*a == *c);
    CHECK(a->equals_bare(*bare));
    CHECK_FALSE(a->equals_full(*bare));
    CHECK(a->bare() == *bare);
    CHECK(a->bare().is_bare());

    auto other = jid::parse("juliet@example.net/Orchard");
    REQUIRE(other);
    CHECK_FALSE(a->equals_bare(*other));

    // A domain JID is not equal to a node JID on the same domain.
    auto domain = jid::parse("example.net");
    REQUIRE(domain);
    CHECK_FALSE(domain->equals_bare(*bare));
}

TEST_CASE("jid: with_resource and bare") {
    auto j = jid::parse("user@example.com/old");
    REQUIRE(j);
    const jid moved = j->with_resource("New");
    CHECK(moved.full_string() == "user@example.com/New");
    CHECK(moved.equals_bare(*j));
    CHECK(j->resource() == "old");  // the original is unchanged
    CHECK(j->with_resource("").is_bare());
    CHECK(j->bare().full_string() == "user@example.com");
}

TEST_CASE("jid: from_parts") {
    auto j = jid::from_parts("Alice", "Example.COM", "Home");
    REQUIRE(j);
    CHECK(j->full_string() == "alice@example.com/Home");

    auto d = jid::from_parts("", "example.com");
    REQUIRE(d);
    CHECK(d->full_string() == "example.com");

    CHECK_FALSE(jid::from_parts("a", ""));
    CHECK_FALSE(jid::from_parts("a b", "example.com"));
    CHECK_FALSE(jid::from_parts("a", "exa@mple.com"));
    CHECK_FALSE(jid::from_parts("a", "example.com/x"));
    CHECK_FALSE(jid::from_parts("a", "example.com", "x\0y"sv));
    // A resource may contain '/' and '@' when built from parts.
    auto r = jid::from_parts("a", "example.com", "x/y@z");
    REQUIRE(r);
    CHECK(r->resource() == "x/y@z");
}

TEST_CASE("jid: empty parts are invalid") {
    CHECK(invalid(""));
    CHECK(invalid("@example.com"));          // '@' with empty node
    CHECK(invalid("user@"));                 // empty domain
    CHECK(invalid("user@/res"));
    CHECK(invalid("example.com/"));          // '/' with empty resource
    CHECK(invalid("user@example.com/"));
    CHECK(invalid("/res"));
    CHECK(invalid("@/"));
    CHECK(invalid("\xC2\xAD@example.com"));  // node that prepares to nothing
    CHECK(invalid("a@example.com/\xC2\xAD"));  // resource that prepares to nothing
}

TEST_CASE("jid: domain labels and trailing dot") {
    CHECK(full("user@example.com.") == "user@example.com");
    CHECK(full("example.com./r") == "example.com/r");
    CHECK(invalid("user@example.com.."));  // only one trailing dot is stripped
    CHECK(invalid("user@."));
    CHECK(invalid("user@.example.com"));
    CHECK(invalid("user@example..com"));
    CHECK(invalid("user@exa mple.com"));
    CHECK(invalid("user@exa<mple.com"));
    CHECK(invalid("user@a@b"));            // second '@' lands in the domain
    CHECK(invalid("user@exa\x01mple.com"));
    // Ideographic full stop separates labels like '.'.
    CHECK(full("user@example\xE3\x80\x82" "com") == "user@example.com");
    CHECK(full("host_name.example") == "host_name.example");
    CHECK(full("xn--bcher-kva.example") == "xn--bcher-kva.example");
}

TEST_CASE("jid: IP literals") {
    CHECK(full("user@192.0.2.1/r") == "user@192.0.2.1/r");
    CHECK(full("[::1]") == "[::1]");
    CHECK(full("user@[::1]/res") == "user@[::1]/res");
    CHECK(full("user@[2001:DB8:0:0:0:0:0:1]") == "user@[2001:db8::1]");  // canonical form
    auto short_form = jid::parse("[::1]");
    auto long_form = jid::parse("[0:0:0:0:0:0:0:1]");
    REQUIRE(short_form);
    REQUIRE(long_form);
    CHECK(short_form->equals_bare(*long_form));
    CHECK(invalid("user@[::1"));
    CHECK(invalid("user@::1"));
    CHECK(invalid("user@[]"));
    CHECK(invalid("user@[not-an-address]"));
    CHECK(invalid("user@[192.0.2.1]"));     // brackets are for IPv6 only
    CHECK(invalid("user@[fe80::1%eth0]"));  // no zone ids
    CHECK(invalid("user@[::1\0]"sv));
}

TEST_CASE("jid: part length limit is 1023 bytes") {
    const std::string n1023(1023, 'n');
    const std::string n1024(1024, 'n');
    CHECK(jid::parse(n1023 + "@example.com"));
    CHECK(invalid(n1024 + "@example.com"));
    CHECK(jid::parse("a@example.com/" + n1023));
    CHECK(invalid("a@example.com/" + n1024));

    // Domain: 1023 bytes in 63-byte labels.
    std::string domain;
    while (domain.size() + 64 <= 1023) {
        domain += std::string(63, 'd') + ".";
    }
    domain += std::string(1023 - domain.size(), 'd');
    REQUIRE(domain.size() == 1023);
    CHECK(jid::parse("a@" + domain));
    CHECK(invalid("a@" + domain + "d"));

    // The limit applies to the prepared form: a 2-byte 'Ä' folds to 2-byte 'ä', 1023 bytes stays valid.
    std::string multibyte;
    for (int i = 0; i < 511; ++i) {
        multibyte += "\xC3\x84";
    }
    multibyte += "x";
    REQUIRE(multibyte.size() == 1023);
    CHECK(jid::parse(multibyte + "@example.com"));
    CHECK(invalid(multibyte + "x@example.com"));

    // Enormous inputs are refused without trouble.
    CHECK(invalid(std::string(100000, 'a') + "@example.com"));
    CHECK(invalid("a@example.com/" + std::string(100000, 'r')));
}

TEST_CASE("jid: invalid UTF-8 is refused") {
    CHECK(invalid("\xFF@example.com"));
    CHECK(invalid("a@exam\xFFple.com"));
    CHECK(invalid("a@example.com/\xFF"));
    CHECK(invalid("\xC0\xAF@example.com"));                 // overlong '/'
    CHECK(invalid("a@example.com/\xED\xA0\x80"));           // UTF-16 surrogate
    CHECK(invalid("a@example.com/\xF4\x90\x80\x80"));       // above U+10FFFF
    CHECK(invalid("a@example.com/x\xC3"));                  // truncated sequence
    CHECK(invalid("a@example.com/\x80"));                   // lone continuation byte
    CHECK(invalid("a\0b@example.com"sv));  // NUL
    CHECK(invalid("a@example.com/r\0"sv));
}

TEST_CASE("jid: prohibited characters in the node") {
    for (const char* bad : {"\"", "&", "'", "/", ":", "<", ">", "@", " "}) {
        CAPTURE(bad);
        // Via from_parts, since '/' and '@' would otherwise be taken as separators.
        CHECK_FALSE(jid::from_parts(std::string("a") + bad + "b", "example.com"));
        CHECK_FALSE(hush::nodeprep(std::string("a") + bad + "b"));
    }
    CHECK(invalid("a\"b@example.com"));
    CHECK(invalid("a&b@example.com"));
    CHECK(invalid("a'b@example.com"));
    CHECK(invalid("a:b@example.com"));
    CHECK(invalid("a<b@example.com"));
    CHECK(invalid("a>b@example.com"));
    CHECK(invalid("a b@example.com"));
    CHECK(invalid("a\x07" "b@example.com"));        // ASCII control
    CHECK(invalid("a\xC2\xA0" "b@example.com"));    // non-ASCII space
    CHECK(invalid("a\xEF\xBF\xBD" "b@example.com"));  // U+FFFD is prohibited (C.6)
    // The same characters are allowed in a resource.
    CHECK(full("a@example.com/\"&'/:<>@ x") == "a@example.com/\"&'/:<>@ x");
    // Resource still refuses controls.
    CHECK(invalid("a@example.com/x\x07"));
}

TEST_CASE("jid: bidi rule applies") {
    // Hebrew node alone is fine; mixing RTL and LTR is not (RFC 3454 §6).
    CHECK(jid::parse("\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D@example.com"));
    CHECK(invalid("\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D" "abc@example.com"));
}

TEST_CASE("jid: stringprep helpers") {
    CHECK(hush::nodeprep("JuLiEt") == std::optional<std::string>("juliet"));
    CHECK(hush::resourceprep("JuLiEt") == std::optional<std::string>("JuLiEt"));
    CHECK(hush::nameprep("EXAMPLE.com") == std::optional<std::string>("example.com"));
    CHECK(hush::saslprep("I\xC2\xADX") == std::optional<std::string>("IX"));   // soft hyphen removed
    CHECK(hush::saslprep("\xE2\x85\xA8") == std::optional<std::string>("IX"));  // Roman numeral nine, NFKC
    CHECK(hush::saslprep("a\xC2\xA0" "b") == std::optional<std::string>("a b"));  // non-ASCII space -> space
    CHECK_FALSE(hush::saslprep("\x07"));
    CHECK_FALSE(hush::saslprep("\xFF"));
    CHECK(hush::valid_utf8("plain ascii"));
    CHECK(hush::valid_utf8("\xF0\x9F\x93\xB1"));
    CHECK_FALSE(hush::valid_utf8("\xE0\x80\xAF"));  // overlong
}

TEST_CASE("jid: default is empty") {
    const jid j;
    CHECK(j.empty());
    CHECK(j.full_string().empty());
    CHECK(j.bare_string().empty());
}

namespace {

// libidn's answer for `in` under `profile`, as the server gave it before the ASCII fast paths.
std::optional<std::string> libidn(const std::string& in, const char* profile, Stringprep_profile_flags flags) {
    char* raw = nullptr;
    const int rc = stringprep_profile(in.c_str(), &raw, profile, flags);
    std::optional<std::string> out;
    if (rc == STRINGPREP_OK && raw != nullptr) {
        out = std::string(raw);
    }
    std::free(raw);
    return out;
}

}  // namespace

TEST_CASE("the ASCII fast paths give exactly libidn's answers (nodeprep, resourceprep, domains)") {
    std::mt19937 random(20261206);
    std::uniform_int_distribution<int> length(1, 12);
    std::uniform_int_distribution<int> byte(1, 0x7F);
    // Mostly letters, digits and the characters that matter; sometimes any ASCII byte.
    const std::string interesting = "aZ9-_.@/\"&'<>: \t\x7f";
    std::uniform_int_distribution<std::size_t> pick(0, interesting.size() - 1);
    for (int round = 0; round < 20000; ++round) {
        std::string s;
        const int n = length(random);
        for (int i = 0; i < n; ++i) {
            s += (random() % 3 == 0) ? static_cast<char>(byte(random)) : interesting[pick(random)];
        }
        INFO("input: " << s);
        const auto node = libidn(s, "Nodeprep", STRINGPREP_NO_UNASSIGNED);
        CHECK(hush::nodeprep(s) == node);
        CHECK(hush::resourceprep(s) == libidn(s, "Resourceprep", static_cast<Stringprep_profile_flags>(0)));
        // A domain the slow path would accept (every label nameprepped, then letters, digits, '-', '_' only) is
        // what jid::parse gives; anything else is refused by both.
        std::optional<std::string> domain;
        {
            std::string rest = s;
            if (!rest.empty() && rest.back() == '.') {
                rest.pop_back();
            }
            std::string joined;
            bool ok = !rest.empty();
            std::size_t start = 0;
            while (ok) {
                const auto dot = rest.find('.', start);
                const std::string label = rest.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
                auto prepped = label.empty() ? std::nullopt : libidn(label, "Nameprep", STRINGPREP_NO_UNASSIGNED);
                ok = prepped && !prepped->empty();
                for (const char c : prepped.value_or("")) {
                    const auto u = static_cast<unsigned char>(c);
                    ok = ok && (u >= 0x80 || std::isalnum(u) != 0 || c == '-' || c == '_');
                }
                if (!ok) {
                    break;
                }
                for (char c : *prepped) {
                    joined += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                }
                if (dot == std::string::npos) {
                    break;
                }
                joined += '.';
                start = dot + 1;
            }
            if (ok && s.find('[') == std::string::npos) {
                domain = joined;
            }
        }
        const auto parsed = hush::jid::parse("user@" + s);
        if (s.find('/') == std::string::npos && s.find('@') == std::string::npos && s.find('[') == std::string::npos) {
            CHECK(parsed.has_value() == domain.has_value());
            if (parsed && domain) {
                CHECK(parsed->domain() == *domain);
            }
        }
    }
}
