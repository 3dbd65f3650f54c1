// libFuzzer entry: feed arbitrary bytes after a valid stream header, in two pieces split at the first byte.
// Build with clang: meson setup build-fuzz -Dcpp_args=-fsanitize=fuzzer-no-link ... (see docs/architecture.md).
#include <cstddef>
#include <cstdint>
#include <string>

#include "protocol/stream_parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    hush::xml::parser_limits limits;
    limits.max_stanza_bytes = 4096;
    limits.max_depth = 8;
    hush::xml::stream_parser parser(limits);
    std::vector<hush::xml::stream_event> events;
    const std::string header =
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
    (void)parser.feed(header, events);
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const std::size_t split = size > 0 ? data[0] % (size + 1) : 0;
    if (!parser.feed(input.substr(0, split), events)) {
        (void)parser.feed(input.substr(split), events);
    }
    for (const auto& e : events) {
        if (auto* t = std::get_if<hush::xml::top_level_element>(&e)) {
            (void)t->element.serialize();
        }
    }
    return 0;
}

#ifndef HUSH_LIBFUZZER
// Without libFuzzer: run each file given on the command line once (a corpus replay).
#include <fstream>
#include <iterator>
int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        std::ifstream in(argv[i], std::ios::binary);
        const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    }
    return 0;
}
#endif
