#pragma once
// The names of XEP-0363 uploads: random slot ids and secrets, the file name a client asked for made safe, the
// URL path of a file and its parsing back, and the content-type rules (which types may be uploaded, which are shown
// inline). Pure functions: server/upload/upload_service and upload_http use them, the unit tests check them.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/percent_encoding.hpp"

namespace hush::upload {

// 128 random bits as 32 lower-case hex digits: a slot's id, and its file's name on disk.
std::string random_id();
// 256 random bits as 64 hex digits: the PUT's bearer secret (only its digest is stored).
std::string random_secret();
std::string sha256_hex(std::string_view data);
// Exactly 32 lower-case hex digits: nothing else names a file, so no path from a URL reaches outside the directory.
bool valid_id(std::string_view id);

// The file name as stored and put in the URL: '/', '\\' and control characters become '_', "." and ".." (and
// "") become "file", at most 255 bytes (cut on a UTF-8 character boundary).
std::string sanitize_filename(std::string_view name);

// "/upload/<id>/<encoded name>" split: nullopt unless the id is valid and the rest one segment that decodes to a
// name without '/', '\\' or a NUL.
struct file_path {
    std::string id;
    std::string filename;  // decoded
};
std::optional<file_path> parse_file_path(std::string_view path);

// The media type of a Content-Type value, lower case, without parameters or spaces.
std::string media_type(std::string_view content_type);
// `allowed` as in [upload] allowed_content_types (empty: any; "image/*": any image type).
bool content_type_allowed(std::string_view content_type, const std::vector<std::string>& allowed);
// Shown in the browser (Content-Disposition: inline): images (but SVG), video, audio and plain text; the rest is
// an attachment.
bool shown_inline(std::string_view content_type);
// A type a slot may carry: printable ASCII, at most 255 bytes, with a '/' (parameters allowed).
bool acceptable_content_type(std::string_view content_type);

// An HTTP Range header against a file of `size` bytes (RFC 9110 §14.1.2): one range ("bytes=a-b", "bytes=a-",
// "bytes=-n") is partial; several ranges, a malformed header or another unit are answered with the whole file; a
// range that starts past the end (or a suffix of 0 bytes) is unsatisfiable.
struct byte_range {
    enum class kind { whole, partial, unsatisfiable };
    kind what = kind::whole;
    std::uint64_t first = 0;
    std::uint64_t last = 0;  // inclusive
};
byte_range parse_range(std::string_view header, std::uint64_t size);

}  // namespace hush::upload
