// Einsum equation parser (see einsum_equation.h).
#include "runtime/ops/einsum_equation.h"

#include <algorithm>
#include <map>

namespace joule::ops {

namespace {

// Raw label ids: 'A'..'Z' -> 0..25, 'a'..'z' -> 26..51, ellipsis dim e -> 52 + e.
constexpr int kEllipsisBase = 52;

int letter_id(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return 26 + (c - 'a');
  return -1;
}

// One side of the equation split into its terms, each a list of letter ids with -1 marking "...".
struct Term {
  std::vector<int> items;
  int letters = 0;
  bool ellipsis = false;
};

Status parse_term(const std::string& s, Term& t) {
  for (size_t i = 0; i < s.size();) {
    if (s[i] == '.') {
      if (s.compare(i, 3, "...") != 0) return invalid_model("einsum: '.' not part of '...' in term '" + s + "'");
      if (t.ellipsis) return invalid_model("einsum: more than one '...' in term '" + s + "'");
      t.ellipsis = true;
      t.items.push_back(-1);
      i += 3;
      continue;
    }
    int id = letter_id(s[i]);
    if (id < 0) return invalid_model(std::string("einsum: invalid character '") + s[i] + "' in term '" + s + "'");
    t.items.push_back(id);
    ++t.letters;
    ++i;
  }
  return Status::ok();
}

}  // namespace

Status plan_einsum(const std::string& equation, const std::vector<Shape>& shapes, EinsumPlan& plan) {
  plan = EinsumPlan{};
  std::string eq;
  for (char c : equation)
    if (c != ' ') eq += c;
  size_t arrow = eq.find("->");
  std::string lhs = arrow == std::string::npos ? eq : eq.substr(0, arrow);
  bool explicit_out = arrow != std::string::npos;

  std::vector<Term> terms;
  for (size_t start = 0;;) {
    size_t comma = lhs.find(',', start);
    Term t;
    JOULE_RETURN_IF_ERROR(parse_term(lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start), t));
    terms.push_back(std::move(t));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (terms.size() != shapes.size())
    return invalid_model("einsum: equation '" + equation + "' has " + std::to_string(terms.size()) + " operand terms but " +
                         std::to_string(shapes.size()) + " inputs were given");

  // Number of dims each operand's '...' covers, and the broadcast ellipsis rank.
  int ell_rank = 0;
  std::vector<int> op_ell(terms.size(), 0);
  for (size_t k = 0; k < terms.size(); ++k) {
    int rank = static_cast<int>(shapes[k].size());
    int e = rank - terms[k].letters;
    if (e < 0 || (!terms[k].ellipsis && e != 0))
      return invalid_model("einsum: operand " + std::to_string(k) + " has rank " + std::to_string(rank) + " but its term has " +
                           std::to_string(terms[k].letters) + " letters" + (terms[k].ellipsis ? " and '...'" : ""));
    op_ell[k] = e;
    ell_rank = std::max(ell_rank, e);
  }

  // Assign dense label ids in order of first appearance and check sizes.
  std::map<int, int> dense;
  std::map<int, int> count;  // raw letter id -> occurrences over all operands
  auto label_of = [&](int raw) {
    auto it = dense.find(raw);
    if (it != dense.end()) return it->second;
    int id = static_cast<int>(plan.label_size.size());
    dense[raw] = id;
    plan.label_size.push_back(-1);
    return id;
  };
  for (size_t k = 0; k < terms.size(); ++k) {
    std::vector<int> labels;
    size_t axis = 0;
    for (int item : terms[k].items) {
      if (item < 0) {
        // Operand's '...' covers the last op_ell[k] of the ell_rank broadcast dims (right-aligned).
        for (int e = 0; e < op_ell[k]; ++e, ++axis) {
          int lab = label_of(kEllipsisBase + ell_rank - op_ell[k] + e);
          int64_t d = shapes[k][axis];
          int64_t& sz = plan.label_size[static_cast<size_t>(lab)];
          if (sz == -1 || sz == 1) sz = d;
          else if (d != 1 && d != sz)
            return invalid_model("einsum: '...' dims of operand " + std::to_string(k) + " cannot be broadcast (" +
                                 std::to_string(d) + " vs " + std::to_string(sz) + ")");
          labels.push_back(lab);
        }
        continue;
      }
      int lab = label_of(item);
      ++count[item];
      int64_t d = shapes[k][axis++];
      int64_t& sz = plan.label_size[static_cast<size_t>(lab)];
      if (sz == -1) sz = d;
      else if (sz != d)
        return invalid_model("einsum: label '" + std::string(1, item < 26 ? char('A' + item) : char('a' + item - 26)) +
                             "' has size " + std::to_string(sz) + " and " + std::to_string(d));
      labels.push_back(lab);
    }
    plan.operand_labels.push_back(std::move(labels));
  }

  // Output labels: explicit after "->", or implicit (ellipsis dims, then once-used letters in order).
  std::vector<bool> in_output(plan.label_size.size(), false);
  auto add_output = [&](int lab) -> Status {
    if (in_output[static_cast<size_t>(lab)]) return invalid_model("einsum: output term repeats a label");
    in_output[static_cast<size_t>(lab)] = true;
    plan.output_labels.push_back(lab);
    return Status::ok();
  };
  if (explicit_out) {
    Term out;
    JOULE_RETURN_IF_ERROR(parse_term(eq.substr(arrow + 2), out));
    for (int item : out.items) {
      if (item < 0) {
        for (int e = 0; e < ell_rank; ++e) JOULE_RETURN_IF_ERROR(add_output(dense.at(kEllipsisBase + e)));
        continue;
      }
      if (!dense.count(item))
        return invalid_model("einsum: output label '" + std::string(1, item < 26 ? char('A' + item) : char('a' + item - 26)) +
                             "' does not appear in any input");
      JOULE_RETURN_IF_ERROR(add_output(dense.at(item)));
    }
  } else {
    for (int e = 0; e < ell_rank; ++e) JOULE_RETURN_IF_ERROR(add_output(dense.at(kEllipsisBase + e)));
    for (auto& [raw, n] : count)  // std::map iterates raw ids in ascending (ASCII) order
      if (n == 1) JOULE_RETURN_IF_ERROR(add_output(dense.at(raw)));
  }
  for (size_t lab = 0; lab < plan.label_size.size(); ++lab)
    if (!in_output[lab]) plan.summed_labels.push_back(static_cast<int>(lab));
  for (int lab : plan.output_labels) plan.output_shape.push_back(plan.label_size[static_cast<size_t>(lab)]);
  return Status::ok();
}

}  // namespace joule::ops
