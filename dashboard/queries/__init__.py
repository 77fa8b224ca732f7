"""Read side: functions take (connection or engine, filters) and return plain data or frames."""
