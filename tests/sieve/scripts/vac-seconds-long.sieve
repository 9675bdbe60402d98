require "vacation-seconds";
vacation :seconds 1000000 "long";
