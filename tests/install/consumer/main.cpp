// joule_consumer MODEL: loads MODEL with the installed joule, feeds input element i the value i
// (symbolic dims bound to 1) and prints each output as "NAME DTYPE SHAPE: v0 v1 ...".
#include <joule/session.h>

#include <iostream>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: joule_consumer MODEL\n";
    return 2;
  }
  try {
    auto session = joule::Session::load(argv[1]);
    std::vector<joule::Tensor> inputs;
    for (const joule::IoInfo& io : session->inputs()) {
      joule::Shape shape = io.shape;
      for (int64_t& d : shape)
        if (d < 0) d = 1;
      if (io.dtype != joule::DType::kF32) {
        std::cerr << "error: input '" << io.name << "' is not float32\n";
        return 1;
      }
      joule::Tensor t(io.dtype, shape);
      for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(i);
      inputs.push_back(t);
    }
    std::vector<joule::Tensor> outputs = session->run(inputs);
    for (size_t k = 0; k < outputs.size(); ++k) {
      const joule::Tensor& t = outputs[k];
      std::cout << session->outputs()[k].name << " " << joule::dtype_name(t.dtype()) << " "
                << joule::shape_to_string(t.shape()) << ":";
      for (int64_t i = 0; i < t.numel() && i < 16; ++i) std::cout << " " << t.value_as_double(i);
      std::cout << "\n";
    }
  } catch (const joule::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
