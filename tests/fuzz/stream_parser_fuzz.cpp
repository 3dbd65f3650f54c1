// libFuzzer target: arbitrary bytes after a valid stream header, as a client stream and again as a server stream,
// each time in two pieces split at a point the first byte chooses (the parser must be correct however the bytes
// are split). Every top-level element it hands over then goes where the server would send it: serialized and
// parsed back (how stored stanzas are read), an error reply built, and the payload parsers for the roster,
// privacy lists, blocking reports and dialback.
// Built in the fuzz build only (meson -Dfuzzing=true, `./dev fuzz`); seeds in tests/fuzz/corpus/stream_parser/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "protocol/dialback.hpp"
#include "protocol/privacy_list.hpp"
#include "protocol/roster_payload.hpp"
#include "protocol/spam_report.hpp"
#include "protocol/stanza.hpp"
#include "protocol/stream_parser.hpp"

namespace {

constexpr std::string_view client_header =
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
constexpr std::string_view server_header =
    "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' "
    "xmlns:db='jabber:server:dialback' version='1.0'>";

void payloads(const hush::stanza& s) {
    // What the stream hands over must survive storage: serialize() and stanza::parse() are the offline store's pair.
    const std::string xml = s.serialize();
    if (!hush::stanza::parse(xml).valid()) {
        std::abort();
    }
    const hush::stanza_kind kind = s.kind();
    if (kind != hush::stanza_kind::other && !s.is_error()) {
        (void)hush::make_error_reply(s, "bad-request").serialize();
        if (kind == hush::stanza_kind::iq) {
            (void)hush::make_iq_result(s).serialize();
        }
    }
    if (kind == hush::stanza_kind::message) {
        (void)hush::is_automatic_message(s);
    }
    if (kind == hush::stanza_kind::iq) {
        if (auto q = s.child("query", hush::roster_payload::ns)) {
            (void)hush::roster_payload::parse_set(q);
        }
        if (auto q = s.child("query", "jabber:iq:privacy")) {
            for (auto list : q.children("list")) {
                auto parsed = hush::privacy::parse_list(list);
                if (parsed) {
                    (void)hush::privacy::serialize_list(*parsed);
                }
            }
        }
        if (auto block = s.child("block", "urn:xmpp:blocking")) {
            for (auto item : block.children("item")) {
                (void)hush::parse_spam_report(item);
            }
        }
    }
    auto db = hush::parse_dialback(s.element());
    if (db) {
        if (auto* r = std::get_if<hush::dialback_result>(&*db)) {
            (void)hush::serialize_dialback(*r);
        } else if (auto* v = std::get_if<hush::dialback_verify>(&*db)) {
            (void)hush::serialize_dialback(*v);
        }
    }
}

void run(std::string_view header, std::string_view input, std::size_t split) {
    hush::xml::parser_limits limits;
    limits.max_stanza_bytes = 512;  // above every seed, below -max_len: the size limit is reached too
    limits.max_depth = 8;
    hush::xml::stream_parser parser(limits);
    std::vector<hush::xml::stream_event> events;
    if (parser.feed(header, events)) {
        std::abort();  // the header alone is valid
    }
    if (!parser.feed(input.substr(0, split), events)) {
        (void)parser.feed(input.substr(split), events);
    }
    for (const auto& e : events) {
        if (const auto* t = std::get_if<hush::xml::top_level_element>(&e)) {
            payloads(t->element);
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const std::size_t split = size > 0 ? data[0] % (size + 1) : 0;
    run(client_header, input, split);
    run(server_header, input, split);
    return 0;
}
