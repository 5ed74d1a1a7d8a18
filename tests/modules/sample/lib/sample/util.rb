# a lib/ file staged for sample::helper
