#pragma once
// The admin page served by the http listener: plain HTML, CSS and JS, no build step. It holds no data itself; it
// asks for an admin token (hushctl token create NAME) and uses the JSON API (/api/blocklist, /api/verdicts).
#include <string_view>

namespace hush {

std::string_view admin_page_html();  // GET /admin
std::string_view admin_page_js();    // GET /admin/admin.js
std::string_view admin_page_css();   // GET /admin/admin.css

}  // namespace hush
