#pragma once
// Other servers' published lists: fetching one (http:// or https://, with If-None-Match) and parsing it — Hush's
// urn:hush:blocklist:0 XML or a plain list of domains (the JabberSPAM format). Shared by hushd's importer and
// `hushctl blocklist import`.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "protocol/expected.hpp"
#include "storage/records.hpp"

namespace hush {

// Parses a fetched list (format "hush" or "domains"); entries get source "import:<url>" and the trust their
// publisher gave them ("block" unless it says `trust='greylist'` or `'challenge'`). Entries already expired at
// `now`, malformed lines, and — when `evidence` is not empty — entries whose published evidence kind is not in it
// (one that does not say is "unknown"; every "domains" line is) are skipped; the error says why the whole
// document is unusable.
hush::expected<std::vector<storage::blocklist_entry>, std::string> parse_blocklist_import(
    const std::string& format, const std::string& body, const std::string& url, std::int64_t now,
    const std::vector<std::string>& evidence = {});

struct fetched_list {
    unsigned status = 0;  // 200, or 304 when `etag` still matches
    std::string etag;
    std::string body;
};

// GET `url` (http:// or https://; certificates checked against the system CAs and `extra_ca_file`, and the host
// name) within `timeout`; the body is limited to 4 MiB. The error says what failed.
boost::asio::awaitable<hush::expected<fetched_list, std::string>> fetch_list(std::string url, std::string etag,
                                                                             std::filesystem::path extra_ca_file,
                                                                             std::chrono::seconds timeout);

}  // namespace hush
