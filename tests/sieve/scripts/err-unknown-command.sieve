filinto "x";
